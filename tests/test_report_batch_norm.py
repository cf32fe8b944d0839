"""The batch-normalization analysis: the lesson's claim checked on trials with known answers."""

from __future__ import annotations

import optuna
import pytest

from automl.report.batch_norm import batch_norm_analysis
from tests.made_studies import add, bn_study


def test_bn_analysis_agrees_with_the_lesson_when_bn_is_faster_and_tolerates_more() -> None:
    study = bn_study(optuna.storages.InMemoryStorage())

    f = batch_norm_analysis(study.get_trials(), "maximize", metric="val_accuracy")

    assert f is not None
    assert f.best_value == pytest.approx(0.98)
    assert f.target == pytest.approx(0.931)
    assert f.with_bn.fewest_epochs == 2 and f.with_bn.median_epochs == 2
    assert f.without_bn.fewest_epochs == 4 and f.without_bn.reached_target == 1
    assert f.with_bn.tolerated_lrs == [1e-3, 0.1, 0.5]
    assert f.without_bn.tolerated_lrs == [1e-3]
    # lr 0.1 finished below the threshold, lr 0.5 diverged; the pruned lr 0.01 decides nothing.
    assert f.without_bn.failed_lrs == [0.1, 0.5]
    assert f.without_bn.undecided_lrs == [0.01]
    assert (f.faster, f.higher_lr) == ("agrees", "agrees")
    assert f.summary.startswith("This study agrees with the lesson's claim")


def test_bn_analysis_disagrees_when_the_roles_are_swapped() -> None:
    study = bn_study(optuna.storages.InMemoryStorage(), swap=True)

    f = batch_norm_analysis(study.get_trials(), "maximize")

    assert f is not None
    assert (f.faster, f.higher_lr) == ("disagrees", "disagrees")
    assert f.summary.startswith("This study disagrees with the lesson's claim")


def test_bn_analysis_needs_bn_varied_and_says_when_lr_was_fixed() -> None:
    study = optuna.create_study(direction="maximize")
    add(study, [0.5, 0.9], bn=False)
    add(study, [0.6, 0.8], bn=False)
    assert batch_norm_analysis(study.get_trials(), "maximize") is None

    add(study, [0.9, 0.95], bn=True)
    f = batch_norm_analysis(study.get_trials(), "maximize")
    assert f is not None
    assert f.faster == "agrees"  # BN reached 0.95 * 0.95 at epoch 1, no-BN at epoch 2
    assert f.higher_lr == "inconclusive"
    assert "learning rate did not vary" in f.higher_lr_why
    assert f.summary.startswith("This study partly agrees")


def test_bn_analysis_of_a_loss_counts_reaching_downwards() -> None:
    study = optuna.create_study(direction="minimize")
    add(study, [0.9, 0.3, 0.2], bn=True, lr=0.3)
    add(study, [1.5, 0.9, 0.21], bn=False, lr=0.01)
    add(study, [2.0, 2.3], bn=False, lr=0.3, state="FAIL", reason="diverged: loss became nan")

    f = batch_norm_analysis(study.get_trials(), "minimize")

    assert f is not None
    assert f.target == pytest.approx(0.2 / 0.95)
    assert f.with_bn.fewest_epochs == 3 and f.without_bn.fewest_epochs == 3
    assert f.faster == "inconclusive"
    assert f.without_bn.failed_lrs == [0.3] and f.with_bn.tolerated_lrs == [0.3]
    assert f.higher_lr == "agrees"
