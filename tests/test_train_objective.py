"""One trial on real digits: reported per epoch, pruned, failed with a reason; the study goes on."""

from __future__ import annotations

from typing import Any

import optuna
import pytest

from automl.data.dataset import load_dataset
from automl.errors import SpecError
from automl.search.factories import make_pruner, make_sampler
from automl.spec.problems import quoted
from automl.spec.rules import parse
from automl.train.objective import (
    BestEpoch,
    Divergence,
    Objective,
    Outcome,
    TrialFailed,
    untrained_loss,
)


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
        {"epochs": 5, "pruner": "none", "params": {"learning_rate": 0.05, "width": 8}}, 1
    )
    (trial,) = study.trials
    curve = [trial.intermediate_values[e] for e in range(1, 6)]
    assert trial.value == max(curve)
    assert curve[-1] < trial.value  # the last epoch is not the best: the value is not the last
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


# Learning rates that blow the loss up while it stays finite on digits (1e5 reaches ~1e7 to
# 1e11 in one epoch), and one that trains.
EXPLODING = [("sgd", 1e5), ("adam", 1e3), ("rmsprop", 1e4), ("sgd", 1e3)]


@pytest.mark.slow
@pytest.mark.parametrize(("optimizer", "learning_rate"), EXPLODING)
def test_a_finite_loss_that_explodes_fails_the_trial_with_its_reason(
    optimizer: str, learning_rate: float
) -> None:
    study, outcomes = run(
        {
            "epochs": 2,
            "pruner": "none",
            "params": {"optimizer": optimizer, "learning_rate": learning_rate, "width": 8},
        },
        1,
    )
    (trial,) = study.trials
    assert trial.state == optuna.trial.TrialState.FAIL
    reason = trial.user_attrs["fail_reason"]
    assert reason.startswith("diverged: loss ") and "at epoch 1, started at 2.303" in reason
    assert "diverge_factor 100" in reason
    assert len(outcomes[0].history) == 1  # stopped at the epoch it diverged


@pytest.mark.slow
def test_with_the_threshold_off_only_a_nan_loss_fails_and_a_normal_trial_completes() -> None:
    raw = {"epochs": 1, "pruner": "none", "sampler": "grid"}
    params = {"optimizer": "sgd", "learning_rate": [1e3, 0.05], "width": 8}
    study, _ = run({**raw, "diverge_factor": None, "params": params}, 2)
    assert {t.state.name for t in study.trials} == {"COMPLETE"}  # 1e3 explodes, stays finite
    study, _ = run({**raw, "params": params}, 2)
    by_lr = {t.params["learning_rate"]: t for t in study.trials}
    assert by_lr[1e3].state.name == "FAIL" and by_lr[0.05].state.name == "COMPLETE"


def test_divergence_compares_the_training_loss_with_the_untrained_models() -> None:
    ten = Divergence(100.0, untrained_loss(10))
    assert ten.reason(2.0, 1) is None and ten.reason(230.0, 3) is None
    assert ten.reason(1.3e11, 1) == (
        "loss 1.3e11 at epoch 1, started at 2.303 (more than diverge_factor 100 times that)"
    )
    assert Divergence(None, untrained_loss(10)).reason(1e30, 1) is None
    assert Divergence(10.0, untrained_loss(2)).reason(7.0, 2) is not None  # ln 2 * 10 = 6.9


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, None), (0, None), (100, 100.0), (1e3, 1e3), ("50", 50.0), (1.5, 1.5)],
)
def test_the_divergence_threshold_is_a_study_file_field(value: Any, expected: Any) -> None:
    assert parse({"name": "t", "diverge_factor": value}).diverge_factor == expected
    assert parse({"name": "t"}).diverge_factor == 100.0


@pytest.mark.parametrize("value", [-1, -0.5, 1, 0.5, "abc", "", True, [100], {"x": 1}, ".inf"])
def test_a_bad_divergence_threshold_is_refused_naming_the_field(value: Any) -> None:
    with pytest.raises(SpecError) as caught:
        parse({"name": "t", "diverge_factor": value})
    (problem,) = caught.value.problems
    assert problem.startswith("diverge_factor: must be a number > 1 (or 0 or null")
    assert problem.endswith(f"got {quoted(value)}")
