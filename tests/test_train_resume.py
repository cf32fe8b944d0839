"""A trial interrupted at an epoch and retried resumes there: it reports the epochs already done,
trains the rest, and ends at the value of a trial that was never interrupted (exactly, on CPU);
a checkpoint of another space or of a changed model is never taken up.

The interruption is a KeyboardInterrupt raised at an epoch's end, where a worker's stop signal
raises it (`automl.run.signals.WorkerStop`); tests/test_run_resume.py kills a real worker.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna
import pytest

from automl.data.dataset import load_dataset
from automl.keys import RESUMED_FROM_EPOCH_ATTR, RESUMED_SECONDS_ATTR
from automl.run.recovery import requeue
from automl.search.factories import make_pruner, make_sampler
from automl.spec.rules import parse
from automl.train import resume
from automl.train.objective import Objective, Outcome, TrialFailed

EPOCHS = 5
PARAMS = {
    "learning_rate": {"low": 0.003, "high": 0.03, "log": True},
    "width": 8,
    "depth": 2,
    "dropout": 0.2,
}


def spec_of(**raw: Any) -> Any:
    return parse(
        {
            "name": "resume",
            "seed": 3,
            "epochs": EPOCHS,
            "sampler": {"name": "random", "seed": 0},
            "pruner": "none",
            "params": PARAMS,
            **raw,
        }
    )


def optimize(study: optuna.Study, spec: Any, folder: Path) -> list[Outcome]:
    outcomes: list[Outcome] = []
    data = load_dataset(spec.dataset, spec.seed)
    objective = Objective(spec, data, on_outcome=outcomes.append, checkpoints=folder)
    study.optimize(objective, n_trials=1, catch=(TrialFailed,))
    return outcomes


def new_study(spec: Any) -> optuna.Study:
    return optuna.create_study(
        direction=spec.direction, sampler=make_sampler(spec), pruner=make_pruner(spec)
    )


def interrupted(
    study: optuna.Study, spec: Any, folder: Path, at: int, monkeypatch: pytest.MonkeyPatch
) -> optuna.trial.FrozenTrial:
    """Run one trial stopped at the end of epoch `at` and queue it again, as a worker does."""
    save = resume.EpochCheckpoint.on_epoch_end

    def stop_after(self: resume.EpochCheckpoint, epoch: int, logs: Any = None) -> None:
        save(self, epoch, logs)
        if epoch + 1 == at:
            raise KeyboardInterrupt("interrupted (Ctrl-C)")

    with monkeypatch.context() as patched:
        patched.setattr(resume.EpochCheckpoint, "on_epoch_end", stop_after)
        with pytest.raises(KeyboardInterrupt):
            optimize(study, spec, folder)
    (failed,) = study.get_trials()
    assert failed.state.name == "FAIL" and len(failed.intermediate_values) == at
    requeue(study, failed, died=False)
    return failed


@pytest.mark.slow
@pytest.mark.parametrize("restore_best_weights", [True, False])
def test_a_retry_resumes_at_the_epoch_it_stopped_and_ends_as_if_never_stopped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, restore_best_weights: bool
) -> None:
    spec = spec_of(restore_best_weights=restore_best_weights)
    plain = new_study(spec)
    (whole,) = optimize(plain, spec, tmp_path / "plain")
    reference = plain.trials[0]

    study = new_study(spec)
    folder = tmp_path / "checkpoints"
    failed = interrupted(study, spec, folder, 3, monkeypatch)
    assert (folder / "trial-0").is_dir()  # kept: the trial is queued again
    (outcome,) = optimize(study, spec, folder)
    retry = study.trials[-1]
    assert retry.state.name == "COMPLETE" and retry.params == failed.params == reference.params
    assert retry.user_attrs[RESUMED_FROM_EPOCH_ATTR] == 3
    assert retry.user_attrs[RESUMED_SECONDS_ATTR] > 0
    assert retry.user_attrs["seed"] == failed.user_attrs["seed"] == reference.user_attrs["seed"]
    # Every epoch reported once, with the numbers of the uninterrupted trial, to the last digit.
    assert retry.intermediate_values == reference.intermediate_values
    assert list(retry.intermediate_values) == list(range(1, EPOCHS + 1))
    assert retry.value == reference.value
    assert retry.user_attrs["best_epoch"] == reference.user_attrs["best_epoch"]
    assert outcome.history == whole.history and len(outcome.history) == EPOCHS
    assert not (folder / "trial-0").exists()  # deleted once the trial ended


@pytest.mark.slow
def test_a_resumed_trial_that_trails_is_pruned_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = spec_of(pruner={"name": "median", "n_startup_trials": 1, "n_warmup_steps": 0})
    study = new_study(spec)
    folder = tmp_path / "checkpoints"
    failed = interrupted(study, spec, folder, 2, monkeypatch)  # alone: nothing to prune it
    # Meanwhile another trial completed with a perfect curve.
    study.add_trial(
        optuna.create_trial(
            state=optuna.trial.TrialState.COMPLETE,
            value=1.0,
            params=failed.params,
            distributions=failed.distributions,
            intermediate_values=dict.fromkeys(range(1, EPOCHS + 1), 1.0),
        )
    )
    (outcome,) = optimize(study, spec, folder)
    (retry,) = [t for t in study.trials if t.user_attrs.get(RESUMED_FROM_EPOCH_ATTR)]
    # Below the median at its first reported epoch: pruned there, before training any epoch.
    assert retry.state.name == "PRUNED" and list(retry.intermediate_values) == [1]
    assert retry.user_attrs[RESUMED_FROM_EPOCH_ATTR] == 2 and len(outcome.history) == 1
    assert not (folder / "trial-0").exists()


@pytest.mark.slow
@pytest.mark.parametrize("change", ["another space", "a changed model"])
def test_a_checkpoint_of_another_space_or_model_is_never_taken_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, change: str
) -> None:
    spec = spec_of()
    study = new_study(spec)
    folder = tmp_path / "checkpoints"
    interrupted(study, spec, folder, 2, monkeypatch)
    if change == "another space":
        # The same trial's parameters, drawn from a wider range.
        wider = {"low": 0.001, "high": 0.03, "log": True}
        spec = spec_of(params={**PARAMS, "learning_rate": wider})
    else:
        # The code changed: the second block's filters stop at the first's (8, not 16).
        monkeypatch.setattr("automl.train.model.MAX_FILTERS", 4)
    (outcome,) = optimize(study, spec, folder)
    retry = study.trials[-1]
    assert retry.state.name == "COMPLETE" and RESUMED_FROM_EPOCH_ATTR not in retry.user_attrs
    assert list(retry.intermediate_values) == list(range(1, EPOCHS + 1))
