"""A study as one self-contained HTML page of plotly figures, and the batch-norm analysis.

The page embeds plotly's JavaScript, so it opens offline and can travel as an MLflow
artifact. Optuna's own plots read `trial.params`, where a log1m range is stored as
`one_minus_<name>`; they are drawn from a copy of the study with β put back as β.

`batch_norm_analysis` is pure (trials in, plain data out): it checks the lesson's claim that
batch normalization allows higher learning rates and converges in fewer epochs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from automl.report.batch_norm import BatchNormFindings, best_reached
from automl.results.query import hyperparameters
from automl.search.space import LOG1M_PREFIX

if TYPE_CHECKING:
    import optuna
    import plotly.graph_objects as go
STATE_STYLE = {
    "COMPLETE": {"color": "#1f77b4", "dash": "solid"},
    "PRUNED": {"color": "#999999", "dash": "dash"},
    "FAIL": {"color": "#d62728", "dash": "dot"},
}
# How a trial's last point is marked, by its state (a circle otherwise).
END_SYMBOL = {"PRUNED": "x", "FAIL": "cross"}
BN_COLOR = {True: "#ff7f0e", False: "#2ca02c"}


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
            (hyperparameters(t).get("learning_rate"), best_reached(t, findings.direction), t)
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
