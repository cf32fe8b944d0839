"""The report's figures."""

from __future__ import annotations

import optuna

from automl.report.figures import learning_curves
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
