"""A study as one self-contained HTML page, written to a folder and logged to MLflow.

The page embeds plotly's JavaScript, so it opens offline and can travel as an MLflow
artifact: the study's parent run keeps it under report/.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import optuna
import plotly.offline
from mlflow.exceptions import MlflowException

from automl.errors import first_line
from automl.keys import TEST_ACCURACY
from automl.report.batch_norm import (
    TARGET_FRACTION,
    BatchNormFindings,
    batch_norm_analysis,
    format_lrs,
)
from automl.report.figures import study_figures
from automl.results.query import BestReport, load_study, summarize
from automl.search.space import show
from automl.tracking.study_run import client_for
from automl.uris import mask, missing_sqlite_store, redact


@dataclass(frozen=True)
class Section:
    """One figure's part of the page."""

    key: str
    title: str
    body: str  # HTML


@dataclass
class Report:
    """A written report: where, which figures it holds, what it could not show."""

    path: Path
    figures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    mlflow: str = ""  # where the page was logged in MLflow, or why not
    batch_norm: BatchNormFindings | None = None

    def lines(self) -> list[str]:
        """What `automl report` prints about it."""
        out = [f"wrote {self.path} ({len(self.figures)} figures)"]
        if self.batch_norm is not None:
            out.append(self.batch_norm.summary)
        out += [f"  not shown: {note}" for note in self.notes]
        return [*out, self.mlflow]


def write_report(
    storage_url: str, name: str, out_dir: Path, tracking_uri: str | None = None, top: int = 10
) -> Report:
    """Write `<out_dir>/<study>.html` and log it to the study's MLflow parent run."""
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = load_study(storage_url, name)
    summary = summarize(study, top=top)  # refuses a study without a complete trial
    metric = summary.metric or "value"
    findings = batch_norm_analysis(
        study.get_trials(deepcopy=False), summary.direction, metric=metric
    )
    figures, notes = study_figures(study, summary, findings)
    sections = [
        Section(
            key, title, fig.to_html(full_html=False, include_plotlyjs=False, div_id=f"fig-{key}")
        )
        for key, title, fig in figures
    ]
    report = Report(
        path=out_dir / f"{_file_name(name)}.html",
        figures=[f"fig-{key}" for key, _, _ in figures],
        notes=notes,
        batch_norm=findings,
    )
    page = _page(summary, sections, findings, notes, plotly.offline.get_plotlyjs())
    out_dir.mkdir(parents=True, exist_ok=True)
    report.path.write_text(page, encoding="utf-8")
    report.mlflow = log_to_mlflow(report.path, summary.mlflow_parent_run_id, tracking_uri)
    return report


def _file_name(study: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", study).strip("._") or "study"


def log_to_mlflow(path: Path, parent_run_id: str | None, tracking_uri: str | None) -> str:
    """Attach the page to the study's parent run; says where, or why it was not logged."""
    if parent_run_id is None:
        return "not logged to MLflow: the study has no MLflow parent run"
    if tracking_uri is None:
        return "not logged to MLflow: no tracking URI"
    if missing_sqlite_store(tracking_uri):
        return f"not logged to MLflow: no MLflow store at {tracking_uri}"
    try:
        client = client_for(tracking_uri)
        client.get_run(parent_run_id)
        client.log_artifact(parent_run_id, str(path), artifact_path="report")
    except (MlflowException, OSError) as exc:
        return (
            f"not logged to MLflow ({mask(tracking_uri)}): {redact(first_line(exc), tracking_uri)}"
        )
    return f"logged to MLflow run {parent_run_id} as report/{path.name}"


CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th { background: #f3f3f3; }
td.left, th.left { text-align: left; }
.note { color: #805b00; }
.verdict { font-size: 1.1em; background: #eef5ff; padding: 0.6em 1em;
           border-left: 4px solid #1f77b4; }
section { margin-bottom: 2em; }
"""


def _page(
    summary: BestReport,
    sections: list[Section],
    findings: BatchNormFindings | None,
    notes: list[str],
    plotly_js: str,
) -> str:
    e = html.escape
    body = [*_head(summary), _top_table(summary)]
    body.append(
        "<details><summary>All hyperparameters of the best trial</summary><pre>"
        + e(json.dumps(summary.best.hyperparameters, indent=2))
        + "</pre></details>"
    )
    if findings is not None:
        body.append(_batch_norm_html(findings))
    body += [f'<section id="{e(s.key)}"><h2>{e(s.title)}</h2>{s.body}</section>' for s in sections]
    if notes:
        body.append("<h2>Not shown</h2>" + "".join(f'<p class="note">{e(n)}</p>' for n in notes))
    return (
        "<!DOCTYPE html>\n<html><head><meta charset='utf-8'>"
        f"<title>automl study {e(summary.study)}</title><style>{CSS}</style>"
        f"<script>{plotly_js}</script></head>"
        f'<body data-figures="{len(sections)}">' + "\n".join(body) + "</body></html>\n"
    )


def _head(summary: BestReport) -> list[str]:
    """The study, its trials by state, the best trial and the test score."""
    e = html.escape
    b = summary.best
    metric = summary.metric or "value"
    states = ", ".join(f"{n} {s.lower()}" for s, n in sorted(summary.states.items()))
    head = [
        f"<h1>Study {e(summary.study)}</h1>",
        f"<p>{e(summary.direction)} {e(metric)}; trials: {e(states)}.</p>",
        f"<p>Best trial <b>{b.number}</b>: {e(metric)} <b>{e(show(b.value))}</b>, "
        f"seed {e(show(b.seed))}, MLflow run {e(show(b.mlflow_run_id))}.</p>",
    ]
    if summary.test is not None:
        head.append(
            f"<p>Test set: trial {e(show(summary.test.get('trial')))} scored accuracy "
            f"<b>{e(show(summary.test.get(TEST_ACCURACY)))}</b>, loss "
            f"{e(show(summary.test.get('test_loss')))}.</p>"
        )
    return head


def _top_table(summary: BestReport) -> str:
    e = html.escape
    names = summary.searched
    rows = "".join(
        "<tr>"
        + "".join(
            f"<td>{e(show(c))}</td>"
            for c in [r.number, r.value, *(r.hyperparameters.get(n) for n in names), r.seed]
        )
        + f"<td>{e(show(r.epochs))}</td><td>{e(show(r.test_accuracy))}</td></tr>"
        for r in summary.top
    )
    header = "".join(
        f"<th>{e(h)}</th>"
        for h in ["trial", summary.metric or "value", *names, "seed", "epochs", "test"]
    )
    return f"<h2>Top {len(summary.top)} trials</h2><table><tr>{header}</tr>{rows}</table>"


def _batch_norm_html(f: BatchNormFindings) -> str:
    e = html.escape
    rows = []
    for s in (f.with_bn, f.without_bn):
        cells = [
            "with BN" if s.batch_norm else "without BN",
            f"{s.trials} ({s.complete} complete)",
            f"{show(s.best_value)} (#{show(s.best_trial)})",
            f"{s.reached_target}",
            show(s.fewest_epochs),
            show(s.median_epochs),
            format_lrs(s.tolerated_lrs),
            format_lrs(s.failed_lrs),
            format_lrs(s.undecided_lrs),
        ]
        rows.append("<tr>" + "".join(f"<td class='left'>{e(c)}</td>" for c in cells) + "</tr>")
    header = "".join(
        f"<th class='left'>{h}</th>"
        for h in [
            "",
            "trials",
            "best",
            "reached target",
            "fewest epochs to target",
            "median epochs",
            "learning rates tolerated",
            "failed",
            "pruned before deciding",
        ]
    )
    cmp = "≥" if f.direction == "maximize" else "≤"
    return (
        '<section id="batch-norm"><h2>Batch normalization</h2>'
        f'<p class="verdict">{e(f.summary)}</p>'
        f"<p>Target: {e(f.metric)} {cmp} {f.target:.4f} ({TARGET_FRACTION:.0%} of the best, "
        f"{f.best_value:.4f}). A learning rate counts as tolerated when training reached "
        f"{cmp} {f.threshold:.4f} without diverging; a failed one diverged or finished below "
        "it.</p>"
        f"<table><tr>{header}</tr>{''.join(rows)}</table></section>"
    )
