"""A study as one self-contained HTML page of plotly figures, and the batch-norm analysis.

The page embeds plotly's JavaScript, so it opens offline and can travel as an MLflow
artifact. Optuna's own plots read `trial.params`, where a log1m range is stored as
`one_minus_<name>`; they are drawn from a copy of the study with β put back as β.

`batch_norm_analysis` is pure (trials in, plain data out): it checks the lesson's claim that
batch normalization allows higher learning rates and converges in fewer epochs.
"""

from __future__ import annotations

import html
import json
import math
import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from automl.results import BestReport, hyperparameters, load_study, rank, summarize
from automl.space import LOG1M_PREFIX, show
from automl.study import FAIL_REASON_ATTR
from automl.tracking import missing_sqlite_store

if TYPE_CHECKING:
    import optuna
    import plotly.graph_objects as go
    from optuna.trial import FrozenTrial

# The BN view's thresholds, as fractions of the study's best value (maximize; the inverse
# for minimize): "converged" means reaching 95% of the best; a learning rate was "tolerated"
# when training reached 80% of the best (on digits, a collapsed model sits at 0.10).
TARGET_FRACTION = 0.95
TOLERANCE_FRACTION = 0.8
# Fewer complete trials than this make importances a rough guess; the page says so.
FEW_TRIALS = 10
STATE_STYLE = {
    "COMPLETE": {"color": "#1f77b4", "dash": "solid"},
    "PRUNED": {"color": "#999999", "dash": "dash"},
    "FAIL": {"color": "#d62728", "dash": "dot"},
}
# How a trial's last point is marked, by its state (a circle otherwise).
END_SYMBOL = {"PRUNED": "x", "FAIL": "cross"}
BN_COLOR = {True: "#ff7f0e", False: "#2ca02c"}


# ---------------------------------------------------------------------------- BN analysis


@dataclass(frozen=True)
class SettingStats:
    """How the trials with (or without) batch normalization did."""

    batch_norm: bool
    trials: int
    complete: int
    best_value: float | None
    best_trial: int | None
    reached_target: int  # trials whose curve reached the target
    fewest_epochs: int | None  # the fastest of them: epochs until the target
    median_epochs: float | None
    tolerated_lrs: list[float]  # trained and reached the tolerance threshold
    failed_lrs: list[float]  # diverged, or finished below the threshold
    undecided_lrs: list[float]  # pruned before reaching the threshold: no verdict

    @property
    def max_tolerated_lr(self) -> float | None:
        return max(self.tolerated_lrs) if self.tolerated_lrs else None


@dataclass(frozen=True)
class BatchNormFindings:
    """The lesson's claim, checked on one study: verdicts are agrees / disagrees / inconclusive."""

    metric: str
    direction: str
    best_value: float
    target: float
    threshold: float
    with_bn: SettingStats
    without_bn: SettingStats
    faster: str
    faster_why: str
    higher_lr: str
    higher_lr_why: str

    @property
    def summary(self) -> str:
        verdicts = sorted({self.faster, self.higher_lr})
        overall = {
            ("agrees",): "agrees with",
            ("agrees", "inconclusive"): "partly agrees with",
            ("agrees", "disagrees"): "partly agrees and partly disagrees with",
            ("disagrees",): "disagrees with",
            ("disagrees", "inconclusive"): "partly disagrees with",
        }.get(tuple(verdicts), "can neither confirm nor refute")
        return (
            f"This study {overall} the lesson's claim that batch normalization allows higher "
            f"learning rates and faster convergence. Faster convergence: {self.faster} "
            f"({self.faster_why}). Higher learning rates: {self.higher_lr} ({self.higher_lr_why})."
        )


def batch_norm_analysis(
    trials: Sequence[FrozenTrial],
    direction: str,
    metric: str = "value",
    target_fraction: float = TARGET_FRACTION,
    tolerance_fraction: float = TOLERANCE_FRACTION,
) -> BatchNormFindings | None:
    """Compare the trials with and without BN; None when batch_norm did not vary."""
    finished = [t for t in trials if t.state.name in ("COMPLETE", "PRUNED", "FAIL")]
    settings = {bool(hyperparameters(t).get("batch_norm")) for t in finished}
    ranking = rank(finished, direction)
    if settings != {True, False} or not ranking:
        return None
    maximize = direction == "maximize"
    best = float(ranking[0].value or 0.0)
    target = best * target_fraction if maximize else best / target_fraction
    threshold = best * tolerance_fraction if maximize else best / tolerance_fraction

    def reaches(value: float, goal: float) -> bool:
        return value >= goal if maximize else value <= goal

    def stats(bn: bool) -> SettingStats:
        mine = [t for t in finished if bool(hyperparameters(t).get("batch_norm")) == bn]
        top = rank(mine, direction)
        epochs = [
            e for e in (_epochs_to(t, lambda v: reaches(v, target)) for t in mine) if e is not None
        ]
        tolerated, failed, undecided = [], [], []
        for t in mine:
            lr = hyperparameters(t).get("learning_rate")
            if lr is None:
                continue
            peak = _best_reached(t, direction)
            reached = peak is not None and reaches(peak, threshold)
            if t.state.name == "FAIL":
                # Only a diverged trial speaks about the learning rate; a dead worker does not.
                if "diverged" in str(t.user_attrs.get(FAIL_REASON_ATTR, "")):
                    failed.append(float(lr))
            elif reached:
                tolerated.append(float(lr))
            elif t.state.name == "COMPLETE":
                failed.append(float(lr))
            else:
                undecided.append(float(lr))
        return SettingStats(
            batch_norm=bn,
            trials=len(mine),
            complete=len(top),
            best_value=float(top[0].value or 0.0) if top else None,
            best_trial=top[0].number if top else None,
            reached_target=len(epochs),
            fewest_epochs=min(epochs) if epochs else None,
            median_epochs=statistics.median(epochs) if epochs else None,
            tolerated_lrs=sorted(tolerated),
            failed_lrs=sorted(failed),
            undecided_lrs=sorted(undecided),
        )

    with_bn, without_bn = stats(True), stats(False)
    faster, faster_why = _faster_verdict(with_bn, without_bn)
    lrs = {float(hyperparameters(t).get("learning_rate", math.nan)) for t in finished}
    higher, higher_why = _learning_rate_verdict(with_bn, without_bn, len(lrs - {math.nan}) > 1)
    return BatchNormFindings(
        metric=metric,
        direction=direction,
        best_value=best,
        target=target,
        threshold=threshold,
        with_bn=with_bn,
        without_bn=without_bn,
        faster=faster,
        faster_why=faster_why,
        higher_lr=higher,
        higher_lr_why=higher_why,
    )


def _epochs_to(t: FrozenTrial, reached: Any) -> int | None:
    for step in sorted(t.intermediate_values):
        if reached(t.intermediate_values[step]):
            return int(step)
    return None


def _faster_verdict(bn: SettingStats, plain: SettingStats) -> tuple[str, str]:
    if bn.fewest_epochs is None and plain.fewest_epochs is None:
        return "inconclusive", "no trial reached the target"
    if plain.fewest_epochs is None:
        return "agrees", f"only BN reached the target, in {bn.fewest_epochs} epochs"
    if bn.fewest_epochs is None:
        return "disagrees", f"only no-BN reached the target, in {plain.fewest_epochs} epochs"
    why = (
        f"fewest epochs to the target {bn.fewest_epochs} with BN vs {plain.fewest_epochs} "
        f"without; median {bn.median_epochs:g} vs {plain.median_epochs:g}"
    )
    # The fastest trial decides; the median breaks a tie.
    ours = (bn.fewest_epochs, bn.median_epochs)
    theirs = (plain.fewest_epochs, plain.median_epochs)
    if ours < theirs:
        return "agrees", why
    if ours > theirs:
        return "disagrees", why
    return "inconclusive", why + ": no difference"


def _learning_rate_verdict(
    bn: SettingStats, plain: SettingStats, lr_varied: bool
) -> tuple[str, str]:
    """One setting wins only where it trained at a rate at which the other diverged or stalled.

    A setting's highest tolerated rate alone says nothing when it was never tried higher.
    """
    if not lr_varied:
        return "inconclusive", "the learning rate did not vary"
    hi_bn, hi_plain = bn.max_tolerated_lr, plain.max_tolerated_lr
    why = (
        f"highest tolerated learning rate {show(hi_bn)} with BN vs {show(hi_plain)} without; "
        f"failed at {_lrs(bn.failed_lrs)} with BN and {_lrs(plain.failed_lrs)} without"
    )
    if hi_bn is not None and (hi_plain is None or hi_bn > hi_plain):
        if any((hi_plain or 0.0) < lr <= hi_bn for lr in plain.failed_lrs):
            return "agrees", why
        return "inconclusive", why + "; no-BN was not tried and failed at BN's higher rates"
    if hi_plain is not None and (hi_bn is None or hi_plain > hi_bn):
        if any((hi_bn or 0.0) < lr <= hi_plain for lr in bn.failed_lrs):
            return "disagrees", why
        return "inconclusive", why + "; BN was not tried and failed at no-BN's higher rates"
    return "inconclusive", why


def _lrs(values: list[float]) -> str:
    return ", ".join(show(v) for v in values) if values else "none"


# ---------------------------------------------------------------------------- figures


def display_study(study: optuna.Study) -> optuna.Study:
    """An in-memory copy of the finished trials with `one_minus_<name>` turned back into β."""
    import optuna
    from optuna.distributions import FloatDistribution

    copy = optuna.create_study(direction=study.direction)
    for t in study.get_trials(deepcopy=False):
        if not t.state.is_finished():
            continue
        params, dists = {}, {}
        for name, value in t.params.items():
            dist = t.distributions[name]
            if name.startswith(LOG1M_PREFIX) and isinstance(dist, FloatDistribution):
                name = name.removeprefix(LOG1M_PREFIX)
                value = 1.0 - value
                dist = FloatDistribution(1.0 - dist.high, 1.0 - dist.low)
            params[name], dists[name] = value, dist
        copy.add_trial(
            optuna.trial.create_trial(
                state=t.state,
                value=t.value if t.state.name == "COMPLETE" else None,
                params=params,
                distributions=dists,
                user_attrs=dict(t.user_attrs),
                intermediate_values=dict(t.intermediate_values),
            )
        )
    return copy


def _varied(study: optuna.Study, name: str) -> bool:
    """Whether the complete trials tried two or more values of a parameter (plots need it)."""
    values = {
        repr(t.params[name])
        for t in study.get_trials(deepcopy=False)
        if t.state.name == "COMPLETE" and name in t.params
    }
    return len(values) > 1


def learning_curves(study: optuna.Study, metric: str) -> go.Figure:
    """Every trial's per-epoch metric; pruned dashed grey, failed dotted red, ends marked."""
    import plotly.graph_objects as go

    fig = go.Figure()
    shown: set[str] = set()
    for t in study.get_trials(deepcopy=False):
        if not t.intermediate_values:
            continue
        state = t.state.name
        style = STATE_STYLE.get(state, {"color": "#bcbd22", "dash": "solid"})
        steps = sorted(t.intermediate_values)
        ys = [t.intermediate_values[s] for s in steps]
        end_symbol = END_SYMBOL.get(state, "circle")
        fig.add_trace(
            go.Scatter(
                x=steps,
                y=ys,
                mode="lines+markers",
                name=state.lower(),
                legendgroup=state,
                showlegend=state not in shown,
                line={"color": style["color"], "dash": style["dash"], "width": 1.5},
                marker={
                    "size": [4] * (len(steps) - 1) + [10],
                    "symbol": ["circle"] * (len(steps) - 1) + [end_symbol],
                    "color": style["color"],
                },
                hovertemplate=f"trial {t.number} ({state.lower()})<br>epoch %{{x}}: %{{y:.4f}}"
                "<extra></extra>",
            )
        )
        shown.add(state)
    fig.update_layout(
        title="Learning curves (pruned: dashed grey, ending in x; failed: dotted red)",
        xaxis_title="epoch",
        yaxis_title=metric,
    )
    return fig


def batch_norm_figures(
    study: optuna.Study, findings: BatchNormFindings
) -> list[tuple[str, str, go.Figure]]:
    """Learning rate against the best value reached, and the curves, coloured by BN."""
    import plotly.graph_objects as go

    scatter, curves = go.Figure(), go.Figure()
    for bn in (True, False):
        label = "with BN" if bn else "without BN"
        mine = [
            t
            for t in study.get_trials(deepcopy=False)
            if t.state.is_finished() and bool(hyperparameters(t).get("batch_norm")) == bn
        ]
        points = [
            (hyperparameters(t).get("learning_rate"), _best_reached(t, findings.direction), t)
            for t in mine
        ]
        points = [(lr, v, t) for lr, v, t in points if lr is not None and v is not None]
        scatter.add_trace(
            go.Scatter(
                x=[p[0] for p in points],
                y=[p[1] for p in points],
                mode="markers",
                name=label,
                marker={
                    "color": BN_COLOR[bn],
                    "size": 10,
                    "symbol": [END_SYMBOL.get(p[2].state.name, "circle") for p in points],
                },
                text=[f"trial {p[2].number} ({p[2].state.name.lower()})" for p in points],
                hovertemplate="%{text}<br>learning rate %{x:.3g}: %{y:.4f}<extra></extra>",
            )
        )
        for i, t in enumerate(m for m in mine if m.intermediate_values):
            steps = sorted(t.intermediate_values)
            curves.add_trace(
                go.Scatter(
                    x=steps,
                    y=[t.intermediate_values[s] for s in steps],
                    mode="lines",
                    name=label,
                    legendgroup=label,
                    showlegend=i == 0,
                    line={"color": BN_COLOR[bn], "width": 1.5},
                    hovertemplate=f"trial {t.number}<br>epoch %{{x}}: %{{y:.4f}}<extra></extra>",
                )
            )
    for fig in (scatter, curves):
        fig.add_hline(
            y=findings.target, line_dash="dot", annotation_text="target", line_color="#555"
        )
    scatter.add_hline(
        y=findings.threshold,
        line_dash="dash",
        annotation_text="tolerated above"
        if findings.direction == "maximize"
        else "tolerated below",
        line_color="#aaa",
    )
    scatter.update_layout(
        title="Best value reached against the learning rate (x: pruned, +: failed)",
        xaxis={"title": "learning rate", "type": "log"},
        yaxis_title=findings.metric,
    )
    curves.update_layout(
        title="Learning curves with and without batch normalization",
        xaxis_title="epoch",
        yaxis_title=findings.metric,
    )
    return [
        ("bn-learning-rates", "Learning rates tolerated with and without BN", scatter),
        ("bn-curves", "Convergence with and without BN", curves),
    ]


def _best_reached(t: FrozenTrial, direction: str) -> float | None:
    values = [v for v in t.intermediate_values.values() if math.isfinite(v)]
    if not values:
        return None
    return max(values) if direction == "maximize" else min(values)


# ---------------------------------------------------------------------------- the page


@dataclass(frozen=True)
class Section:
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


def write_report(
    storage_url: str, name: str, out_dir: Path, tracking_uri: str | None = None, top: int = 10
) -> Report:
    """Write `<out_dir>/<study>.html` and log it to the study's MLflow parent run."""
    import optuna
    import plotly.offline

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = load_study(storage_url, name)
    summary = summarize(study, top=top)  # refuses a study without a complete trial
    metric = summary.metric or "value"
    shown = display_study(study)
    n_complete = summary.states.get("COMPLETE", 0)
    report = Report(path=out_dir / f"{_file_name(name)}.html")
    figures: list[tuple[str, str, Any]] = []

    def note(text: str) -> None:
        report.notes.append(text)

    figures.append(
        (
            "history",
            "Optimization history",
            optuna.visualization.plot_optimization_history(shown, target_name=metric),
        )
    )
    figures.append(("curves", "Learning curves", learning_curves(study, metric)))
    params = [p for p in summary.searched if _varied(shown, p)]
    if params:
        figures.append(
            (
                "parallel",
                "Parallel coordinates",
                optuna.visualization.plot_parallel_coordinate(
                    shown, params=params, target_name=metric
                ),
            )
        )
    else:
        note("Parallel coordinates, slices, importances: no hyperparameter varied.")
    if params and n_complete >= 2:
        try:
            fig = optuna.visualization.plot_param_importances(
                shown, params=params, target_name=metric
            )
            figures.append(("importances", "Hyperparameter importances", fig))
            if n_complete < FEW_TRIALS:
                note(
                    f"Importances rest on {n_complete} complete trials: a rough guess below "
                    f"{FEW_TRIALS}."
                )
        except (ValueError, RuntimeError) as exc:
            note(f"Importances could not be computed: {exc}")
    elif params:
        note("Importances need at least 2 complete trials; this study has 1.")
    if _varied(shown, "learning_rate") and _varied(shown, "beta_1"):
        figures.append(
            (
                "contour",
                "Learning rate × β1",
                optuna.visualization.plot_contour(
                    shown, params=["learning_rate", "beta_1"], target_name=metric
                ),
            )
        )
    else:
        note("Contour of learning rate × β1: needs both searched, each with 2+ values.")
    if params:
        figures.append(
            (
                "slices",
                "Slices",
                optuna.visualization.plot_slice(shown, params=params, target_name=metric),
            )
        )
    findings = batch_norm_analysis(
        study.get_trials(deepcopy=False), summary.direction, metric=metric
    )
    report.batch_norm = findings
    if findings is not None:
        figures += batch_norm_figures(study, findings)
    else:
        note("Batch-normalization view: batch_norm did not vary in this study.")

    sections = [
        Section(
            key, title, fig.to_html(full_html=False, include_plotlyjs=False, div_id=f"fig-{key}")
        )
        for key, title, fig in figures
    ]
    report.figures = [f"fig-{key}" for key, _, _ in figures]
    page = _page(summary, sections, findings, report.notes, plotly.offline.get_plotlyjs())
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
    from mlflow.exceptions import MlflowException

    from automl.tracking import client_for

    try:
        client = client_for(tracking_uri)
        client.get_run(parent_run_id)
        client.log_artifact(parent_run_id, str(path), artifact_path="report")
    except (MlflowException, OSError) as exc:
        return f"not logged to MLflow ({tracking_uri}): {str(exc).splitlines()[0]}"
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
            f"<b>{e(show(summary.test.get('test_accuracy')))}</b>, loss "
            f"{e(show(summary.test.get('test_loss')))}.</p>"
        )
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
        f"<th>{e(h)}</th>" for h in ["trial", metric, *names, "seed", "epochs", "test"]
    )
    head.append(f"<h2>Top {len(summary.top)} trials</h2><table><tr>{header}</tr>{rows}</table>")
    head.append(
        "<details><summary>All hyperparameters of the best trial</summary><pre>"
        + e(json.dumps(b.hyperparameters, indent=2))
        + "</pre></details>"
    )
    body = [*head]
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
            _lrs(s.tolerated_lrs),
            _lrs(s.failed_lrs),
            _lrs(s.undecided_lrs),
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
