"""The lines the command line prints about a study: its file's summary, how a run ended, the
studies of a storage, and a study's best trial with its top table.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from automl.keys import TEST_ACCURACY
from automl.results.query import BestReport, StudySummary
from automl.run.study import budget
from automl.search.grid import grid_size
from automl.search.space import describe, show
from automl.spec.schema import StudySpec
from automl.uris import mask

if TYPE_CHECKING:
    from automl.run.study import RunResult


def format_hyperparameters(hp: dict[str, Any], names: Sequence[str] | None = None) -> str:
    """`name=value` pairs on one line, of `names` (in their order) or of every one in `hp`."""
    keys = names if names is not None else list(hp)
    return " ".join(f"{k}={show(hp[k])}" for k in keys if k in hp)


def spec_summary(spec: StudySpec, verdict: str) -> list[str]:
    """The study as `validate` and `new` print it: one summary line, one line per parameter."""
    sampler = spec.sampler.name
    lines = [
        f"{verdict}: study {spec.name} on {spec.dataset.name}, {spec.direction} {spec.metric}, "
        f"{budget(spec)} trials of at most {spec.epochs} epochs, sampler {sampler}, "
        f"pruner {spec.pruner.name}"
    ]
    lines += [f"  {line}" for line in describe(spec)]
    if sampler == "grid":
        lines.append(f"grid size: {grid_size(spec)}")
    return lines


def format_run(result: RunResult, metric: str) -> list[str]:
    """How `automl run` ended: trials by state against the budget, and the best trial."""
    counts = ", ".join(f"{v} {k.lower()}" for k, v in sorted(result.states.items()))
    lines = [f"study {result.study_name}: {counts} (budget {result.budget})"]
    if result.best_number is None:
        return [*lines, "no trial has completed yet"]
    lines.append(f"best trial {result.best_number}: {metric} {result.best_value:.4f}")
    lines.append(f"  {format_hyperparameters(result.best_hyperparameters)}")
    if result.best_run_id:
        lines.append(f"  MLflow run {result.best_run_id}")
    return lines


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return [
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
        for r in [header, *rows]
    ]


def format_studies(summaries: list[StudySummary], storage_url: str) -> list[str]:
    """`automl studies`: one row per study."""
    if not summaries:
        return [f"no studies in {mask(storage_url)}"]
    rows = []
    for s in summaries:
        states = ", ".join(f"{n} {k.lower()}" for k, n in sorted(s.states.items())) or "none"
        best = "-" if s.best_value is None else f"{s.best_value:.4f} (#{s.best_number})"
        when = s.last_activity.strftime("%Y-%m-%d %H:%M") if s.last_activity else "-"
        rows.append([s.name, s.direction, s.metric or "-", str(s.total), states, best, when])
    return _table(["study", "direction", "metric", "trials", "states", "best", "last"], rows)


def format_best(report: BestReport) -> list[str]:
    """`automl best`: the best trial's facts, then a table of the top trials."""
    b = report.best
    metric = report.metric or "value"
    lines = [f"study {report.study}: best trial {b.number}, {metric} {show(b.value)}"]
    lines += [f"  {k} = {show(v)}" for k, v in b.hyperparameters.items()]
    lines.append(f"  seed {show(b.seed)}, {show(b.epochs)} epochs")
    if b.test_accuracy is not None:
        lines.append(f"  test accuracy {show(b.test_accuracy)}")
    elif report.test is not None:
        lines.append(
            f"  test accuracy {show(report.test.get(TEST_ACCURACY))} "
            f"(of trial {report.test.get('trial')})"
        )
    lines.append(f"  MLflow run {show(b.mlflow_run_id)}")
    lines.append(f"top {len(report.top)} of {report.states.get('COMPLETE', 0)} complete trials:")
    return lines + ["  " + line for line in _table(*_top_table(report, metric))]


def _top_table(report: BestReport, metric: str) -> tuple[list[str], list[list[str]]]:
    names = report.searched
    header = ["#", metric, *names, "seed", "epochs", "test"]
    rows = [
        [
            str(r.number),
            show(r.value),
            *(show(r.hyperparameters.get(n)) for n in names),
            show(r.seed),
            show(r.epochs),
            show(r.test_accuracy),
        ]
        for r in report.top
    ]
    return header, rows
