"""One trial on real digits: reported per epoch, pruned, failed with a reason; the study goes on."""

from __future__ import annotations

from typing import Any

import optuna
import pytest

from automl.data.dataset import load_dataset
from automl.search.factories import make_pruner, make_sampler
from automl.spec.rules import parse
from automl.train.objective import BestEpoch, Objective, Outcome, TrialFailed


def run(raw: dict[str, Any], n: int) -> tuple[optuna.Study, list[Outcome]]:
    spec = parse({"name": "t", "seed": 1, **raw})
    outcomes: list[Outcome] = []
    objective = Objective(spec, load_dataset(spec.dataset, 0), on_outcome=outcomes.append)
    study = optuna.create_study(
        direction=spec.direction, sampler=make_sampler(spec), pruner=make_pruner(spec)
    )
    study.optimize(objective, n_trials=n, catch=(TrialFailed,))
    return study, outcomes


@pytest.mark.slow
def test_a_real_trial_reports_every_epoch_and_returns_the_last_value() -> None:
    study, outcomes = run(
        {
            "epochs": 3,
            "pruner": "none",
            "restore_best_weights": False,
            "params": {"learning_rate": 0.01, "width": 8, "depth": 1},
        },
        1,
    )
    (trial,) = study.trials
    assert trial.state == optuna.trial.TrialState.COMPLETE
    assert sorted(trial.intermediate_values) == [1, 2, 3]
    assert trial.value == trial.intermediate_values[3] == outcomes[0].history[-1]["val_accuracy"]
    assert trial.value > 0.8  # three epochs on digits with Adam at 0.01
    assert trial.user_attrs["hyperparameters"]["learning_rate"] == 0.01
    assert trial.user_attrs["epochs"] == 3 and isinstance(trial.user_attrs["seed"], int)
    assert set(outcomes[0].history[0]) >= {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert outcomes[0].model is not None and trial.user_attrs["best_epoch"] == 3
    # The seconds inside model.fit, which the trial's duration contains.
    duration = (trial.datetime_complete - trial.datetime_start).total_seconds()
    assert 0 < trial.user_attrs["fit_seconds"] < duration


@pytest.mark.slow
def test_a_trial_is_worth_its_best_epoch_and_keeps_that_epochs_weights() -> None:
    # A learning rate this high makes the validation curve wobble from epoch to epoch.
    study, outcomes = run(
        {"epochs": 6, "pruner": "none", "params": {"learning_rate": 0.05, "width": 8}}, 1
    )
    (trial,) = study.trials
    curve = [trial.intermediate_values[e] for e in range(1, 7)]
    assert trial.value == max(curve)
    assert trial.user_attrs["best_epoch"] == curve.index(max(curve)) + 1
    # The model handed over scores the value it was given for, on the same images.
    spec = parse({"name": "t", "seed": 1})
    data = load_dataset(spec.dataset, 0)
    model = outcomes[0].model
    assert model is not None
    _, accuracy = model.evaluate(data.x_val, data.y_val, verbose=0)
    assert accuracy == pytest.approx(trial.value, abs=1e-6)


def test_best_epoch_puts_back_the_weights_of_the_best_epoch_not_the_last() -> None:
    import keras
    import numpy as np

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    best = BestEpoch("val_loss", "minimize")
    best.set_model(model)
    kept = [w.copy() for w in model.get_weights()]
    best.on_epoch_end(0, {"val_loss": 0.5})
    model.set_weights([w + 1.0 for w in kept])
    best.on_epoch_end(1, {"val_loss": 0.7})  # worse: not kept
    best.on_epoch_end(2, {"val_loss": float("nan")})  # never the best
    best.restore()
    assert best.best == (0.5, 1)
    for restored, original in zip(model.get_weights(), kept, strict=True):
        np.testing.assert_array_equal(restored, original)


def test_a_diverging_trial_fails_with_its_reason_and_the_study_goes_on() -> None:
    study, _ = run(
        {
            "epochs": 1,
            "pruner": "none",
            "params": {
                "optimizer": "sgd",
                "learning_rate": [1e30, 0.01],
                "l2": 1.0,
                "width": 4,
                "depth": 1,
            },
            "sampler": "grid",
        },
        2,
    )
    by_lr = {t.params["learning_rate"]: t for t in study.trials}
    bad, good = by_lr[1e30], by_lr[0.01]
    assert bad.state == optuna.trial.TrialState.FAIL
    assert bad.user_attrs["fail_reason"] == "diverged: loss became nan at epoch 1"
    assert good.state == optuna.trial.TrialState.COMPLETE


def test_a_trial_below_the_threshold_is_pruned_at_its_first_epoch() -> None:
    study, outcomes = run(
        {
            "epochs": 4,
            "pruner": {"name": "threshold", "lower": 0.999},
            "params": {"width": 4, "depth": 1, "learning_rate": 1e-4},
        },
        1,
    )
    (trial,) = study.trials
    assert trial.state == optuna.trial.TrialState.PRUNED
    assert list(trial.intermediate_values) == [1]
    assert trial.user_attrs["epochs"] == 1 and len(outcomes[0].history) == 1
    assert trial.user_attrs["fit_seconds"] > 0
    assert outcomes[0].model is None


def test_seeded_trials_repeat_their_value() -> None:
    raw = {"epochs": 1, "pruner": "none", "params": {"width": 4, "depth": 1}}
    first, _ = run(raw, 1)
    again, _ = run(raw, 1)
    assert first.trials[0].value == pytest.approx(again.trials[0].value, abs=0.02)
