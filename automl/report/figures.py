"""The report's figures: Optuna's plots where the study supports them (and a note where it
does not), the learning curves and the batch-normalization view.

Optuna's plots read `trial.params`, where a log1m range is stored as `one_minus_<name>`;
`display_study` puts β back as β in an in-memory copy, so the axes show what the user searched.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import optuna
import plotly.graph_objects as go
from optuna.distributions import FloatDistribution

from automl.report.batch_norm import BatchNormFindings, best_reached
from automl.results.query import BestReport, hyperparameters
from automl.search.space import LOG1M_PREFIX

if TYPE_CHECKING:
    from optuna.trial import FrozenTrial

STATE_STYLE = {
    "COMPLETE": {"color": "#1f77b4", "dash": "solid"},
    "PRUNED": {"color": "#999999", "dash": "dash"},
    "FAIL": {"color": "#d62728", "dash": "dot"},
}
# How a trial's last point is marked, by its state (a circle otherwise).
END_SYMBOL = {"PRUNED": "x", "FAIL": "cross"}
BN_COLOR = {True: "#ff7f0e", False: "#2ca02c"}
# Fewer complete trials than this make importances a rough guess; the page says so.
FEW_TRIALS = 10
# Slices side by side: four fill the page's 1100 px (Optuna would give each 300 px).
SLICES_PER_ROW = 4

Figure = tuple[str, str, go.Figure]  # the section's key, its title, the figure


def display_study(study: optuna.Study) -> optuna.Study:
    """An in-memory copy of the finished trials with `one_minus_<name>` turned back into β."""
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


def varied(study: optuna.Study, name: str) -> bool:
    """Whether the complete trials tried two or more values of a parameter (plots need it)."""
    values = {
        repr(t.params[name])
        for t in study.get_trials(deepcopy=False)
        if t.state.name == "COMPLETE" and name in t.params
    }
    return len(values) > 1


def learning_curves(study: optuna.Study, metric: str) -> go.Figure:
    """Every trial's per-epoch metric; pruned dashed grey, failed dotted red, ends marked."""
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


def batch_norm_figures(study: optuna.Study, findings: BatchNormFindings) -> list[Figure]:
    """Learning rate against the best value reached, and the curves, coloured by BN."""
    scatter, curves = go.Figure(), go.Figure()
    for bn in (True, False):
        mine = [
            t
            for t in study.get_trials(deepcopy=False)
            if t.state.is_finished() and bool(hyperparameters(t).get("batch_norm")) == bn
        ]
        scatter.add_trace(_learning_rate_points(mine, bn, findings.direction))
        for i, t in enumerate(m for m in mine if m.intermediate_values):
            curves.add_trace(_bn_curve(t, bn, first=i == 0))
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


def _bn_label(bn: bool) -> str:
    return "with BN" if bn else "without BN"


def _learning_rate_points(trials: list[FrozenTrial], bn: bool, direction: str) -> go.Scatter:
    """One marker per trial that has a learning rate and a finite value: (rate, best value)."""
    points = [
        (hyperparameters(t).get("learning_rate"), best_reached(t, direction), t) for t in trials
    ]
    points = [(lr, v, t) for lr, v, t in points if lr is not None and v is not None]
    return go.Scatter(
        x=[p[0] for p in points],
        y=[p[1] for p in points],
        mode="markers",
        name=_bn_label(bn),
        marker={
            "color": BN_COLOR[bn],
            "size": 10,
            "symbol": [END_SYMBOL.get(p[2].state.name, "circle") for p in points],
        },
        text=[f"trial {p[2].number} ({p[2].state.name.lower()})" for p in points],
        hovertemplate="%{text}<br>learning rate %{x:.3g}: %{y:.4f}<extra></extra>",
    )


def _bn_curve(t: FrozenTrial, bn: bool, first: bool) -> go.Scatter:
    """A trial's curve in its setting's colour; the setting's first curve names it in the legend."""
    steps = sorted(t.intermediate_values)
    label = _bn_label(bn)
    return go.Scatter(
        x=steps,
        y=[t.intermediate_values[s] for s in steps],
        mode="lines",
        name=label,
        legendgroup=label,
        showlegend=first,
        line={"color": BN_COLOR[bn], "width": 1.5},
        hovertemplate=f"trial {t.number}<br>epoch %{{x}}: %{{y:.4f}}<extra></extra>",
    )


def study_figures(
    study: optuna.Study, summary: BestReport, findings: BatchNormFindings | None
) -> tuple[list[Figure], list[str]]:
    """Every figure the study supports, in the page's order, and a note for each left out."""
    metric = summary.metric or "value"
    shown = display_study(study)
    params = [p for p in summary.searched if varied(shown, p)]
    history = optuna.visualization.plot_optimization_history(shown, target_name=metric)
    figures: list[Figure] = [
        ("history", "Optimization history", history),
        ("curves", "Learning curves", learning_curves(study, metric)),
    ]
    searched, notes = _parameter_figures(shown, params, metric, summary.states.get("COMPLETE", 0))
    figures += searched
    if findings is not None:
        figures += batch_norm_figures(study, findings)
    else:
        notes.append("Batch-normalization view: batch_norm did not vary in this study.")
    return figures, notes


def _parameter_figures(
    shown: optuna.Study, params: list[str], metric: str, n_complete: int
) -> tuple[list[Figure], list[str]]:
    """Parallel coordinates, importances, the α × β1 contour and slices, where they apply."""
    figures: list[Figure] = []
    notes: list[str] = []
    if params:
        parallel = optuna.visualization.plot_parallel_coordinate(
            shown, params=params, target_name=metric
        )
        figures.append(("parallel", "Parallel coordinates", parallel))
        importances, why = _importances(shown, params, metric, n_complete)
        figures += importances
        notes += why
    else:
        notes.append("Parallel coordinates, slices, importances: no hyperparameter varied.")
    if varied(shown, "learning_rate") and varied(shown, "beta_1"):
        contour = optuna.visualization.plot_contour(
            shown, params=["learning_rate", "beta_1"], target_name=metric
        )
        figures.append(("contour", "Learning rate × β1", contour))
    else:
        notes.append("Contour of learning rate × β1: needs both searched, each with 2+ values.")
    if params:
        figures += slices(shown, params, metric)
    return figures, notes


def slices(shown: optuna.Study, params: list[str], metric: str) -> list[Figure]:
    """One slice per parameter, in rows of SLICES_PER_ROW that fill the page's width: Optuna
    draws every slice in one row, 300 px each, wider than the page past three."""
    rows = [params[i : i + SLICES_PER_ROW] for i in range(0, len(params), SLICES_PER_ROW)]
    figures: list[Figure] = []
    for index, row in enumerate(rows, start=1):
        fig = optuna.visualization.plot_slice(shown, params=row, target_name=metric)
        fig.layout.width = None  # as wide as the page, no wider
        fig.update_layout(autosize=True)
        key = "slices" if index == 1 else f"slices-{index}"
        title = "Slices" if len(rows) == 1 else f"Slices ({index} of {len(rows)})"
        figures.append((key, title, fig))
    return figures


def _importances(
    shown: optuna.Study, params: list[str], metric: str, n_complete: int
) -> tuple[list[Figure], list[str]]:
    """The importances figure, with a warning when too few trials back it."""
    if n_complete < 2:
        return [], ["Importances need at least 2 complete trials; this study has 1."]
    try:
        fig = optuna.visualization.plot_param_importances(shown, params=params, target_name=metric)
    except (ValueError, RuntimeError) as exc:
        return [], [f"Importances could not be computed: {exc}"]
    notes = []
    if n_complete < FEW_TRIALS:
        notes.append(
            f"Importances rest on {n_complete} complete trials: a rough guess below {FEW_TRIALS}."
        )
    return [("importances", "Hyperparameter importances", fig)], notes
