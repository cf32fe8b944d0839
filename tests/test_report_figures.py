"""The report's figures."""

from __future__ import annotations

import optuna
import pytest
from optuna.distributions import FloatDistribution
from optuna.trial import create_trial

from automl.report.figures import SLICES_PER_ROW, learning_curves, slices
from tests.made_studies import bn_study


def test_pruned_and_failed_curves_look_different() -> None:
    study = bn_study(optuna.storages.InMemoryStorage())

    fig = learning_curves(study, "val_accuracy")

    styles = {(t.name, t.line.dash, t.line.color) for t in fig.data}
    assert styles == {
        ("complete", "solid", "#1f77b4"),
        ("pruned", "dash", "#999999"),
        ("fail", "dot", "#d62728"),
    }
    assert len(fig.data) == 7  # one curve per trial


@pytest.mark.parametrize("searched", [1, 2, 3, 4, 6, 7, 10])
def test_slices_wrap_in_rows_that_fit_the_page(searched: int) -> None:
    names = [f"p{i}" for i in range(searched)]
    study = optuna.create_study(direction="maximize")
    for n in range(4):
        study.add_trial(
            create_trial(
                value=0.1 * n,
                params={name: 0.1 + 0.2 * n for name in names},
                distributions={name: FloatDistribution(0.0, 1.0) for name in names},
            )
        )

    figures = slices(study, names, "val_accuracy")

    rows = -(-searched // SLICES_PER_ROW)
    assert [key for key, _, _ in figures] == [
        "slices",
        *[f"slices-{i}" for i in range(2, rows + 1)],
    ]
    titles = [title for _, title, _ in figures]
    assert titles == (
        ["Slices"] if rows == 1 else [f"Slices ({i} of {rows})" for i in range(1, rows + 1)]
    )
    shown = []
    for _, _, fig in figures:
        assert fig.layout.width is None and fig.layout.autosize  # the page's width, no wider
        axes = [a for a in fig.layout.to_plotly_json() if a.startswith("xaxis")]
        assert 1 <= len(axes) <= SLICES_PER_ROW
        shown += [fig.layout[a].title.text for a in axes]
    assert shown == names  # every parameter once, in order
