"""The live view of a running study: a progress bar over the budget and a line per trial."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from automl.search.space import show

if TYPE_CHECKING:
    pass

from typing import TYPE_CHECKING

from automl.results.query import BestReport, StudySummary

if TYPE_CHECKING:
    pass


def format_hyperparameters(hp: dict[str, Any], names: Sequence[str] | None = None) -> str:
    keys = names if names is not None else list(hp)
    return " ".join(f"{k}={show(hp[k])}" for k in keys if k in hp)


# ---------------------------------------------------------------------------- text for the CLI


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return [
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
        for r in [header, *rows]
    ]


def format_studies(summaries: list[StudySummary], storage_url: str) -> list[str]:
    if not summaries:
        return [f"no studies in {storage_url}"]
    rows = []
    for s in summaries:
        states = ", ".join(f"{n} {k.lower()}" for k, n in sorted(s.states.items())) or "none"
        best = "-" if s.best_value is None else f"{s.best_value:.4f} (#{s.best_number})"
        when = s.last_activity.strftime("%Y-%m-%d %H:%M") if s.last_activity else "-"
        rows.append([s.name, s.direction, s.metric or "-", str(s.total), states, best, when])
    return _table(["study", "direction", "metric", "trials", "states", "best", "last"], rows)


def format_best(report: BestReport) -> list[str]:
    b = report.best
    metric = report.metric or "value"
    lines = [f"study {report.study}: best trial {b.number}, {metric} {show(b.value)}"]
    lines += [f"  {k} = {show(v)}" for k, v in b.hyperparameters.items()]
    lines.append(f"  seed {show(b.seed)}, {show(b.epochs)} epochs")
    if b.test_accuracy is not None:
        lines.append(f"  test accuracy {show(b.test_accuracy)}")
    elif report.test is not None:
        lines.append(
            f"  test accuracy {show(report.test.get('test_accuracy'))} "
            f"(of trial {report.test.get('trial')})"
        )
    lines.append(f"  MLflow run {show(b.mlflow_run_id)}")
    lines.append(f"top {len(report.top)} of {report.states.get('COMPLETE', 0)} complete trials:")
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
    lines += ["  " + line for line in _table(header, rows)]
    return lines
