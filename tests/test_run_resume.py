"""A trial whose real worker is SIGKILLed mid-training, or stopped by Ctrl-C, resumes at its
last checkpoint in the retry: it trains only the rest, reports every epoch once (in Optuna and
in MLflow) and ends at the value of the same trial run without a stop."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from mlflow import MlflowClient
from optuna.trial import FrozenTrial

from automl.keys import RESUMED_FROM_EPOCH_ATTR
from tests.processes import (
    SLOW_BATCHES,
    environment,
    finish,
    start_run,
    study_file,
    trials,
    wait_for,
)

EPOCHS = 10
NAME = "resume"


def _spec(folder: Path) -> Path:
    folder.mkdir()
    return study_file(
        folder,
        NAME,
        sampler="random",
        trials=1,
        epochs=EPOCHS,
        grid={"learning_rate": [0.01], "width": [8], **SLOW_BATCHES},
    )


def _mid_training(storage: str) -> FrozenTrial | None:
    """The RUNNING trial once it has checkpoints and epochs left (checkpoint_every is 1)."""
    for t in trials(storage, NAME):
        if t.state.name == "RUNNING" and 2 <= len(t.intermediate_values) <= EPOCHS // 2:
            return t
    return None


def _stop(folder: Path, spec: Path, how: str) -> None:
    """Run the study and stop its trial mid-training; the run (or the next one) retries it."""
    storage = str(folder / "s.journal")
    proc = start_run(folder, spec, "--storage", storage)
    victim = wait_for("a trial in training", lambda: _mid_training(storage), proc)
    if how == "SIGKILL":
        os.kill(victim.user_attrs["worker"]["pid"], signal.SIGKILL)
    else:
        os.killpg(proc.pid, signal.SIGINT)
        assert finish(proc)[0] == 130
        proc = start_run(folder, spec, "--storage", storage)  # the same command again
    code, out = finish(proc)
    assert code == 0, out


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> FrozenTrial:
    """The trial as it runs without a stop."""
    plain = tmp_path_factory.mktemp("plain") / "run"
    code, out = finish(start_run(plain, _spec(plain), "--storage", str(plain / "s.journal")))
    assert code == 0, out
    (trial,) = trials(str(plain / "s.journal"), NAME)
    return trial


@pytest.mark.slow
@pytest.mark.parametrize("how", ["SIGKILL", "Ctrl-C"])
def test_a_stopped_trial_resumes_at_its_epoch_and_ends_as_if_never_stopped(
    tmp_path: Path, how: str, reference: FrozenTrial
) -> None:
    stopped = tmp_path / "stopped"
    _stop(stopped, _spec(stopped), how)
    failed, retry = trials(str(stopped / "s.journal"), NAME)
    assert failed.state.name == "FAIL" and retry.state.name == "COMPLETE"
    assert retry.system_attrs["retry_history"] == [failed.number]
    done = len(failed.intermediate_values)
    # Killed after an epoch's report and before its checkpoint, it resumes one epoch earlier.
    assert retry.user_attrs[RESUMED_FROM_EPOCH_ATTR] in (done - 1, done)
    assert retry.user_attrs["epochs"] == EPOCHS
    assert retry.user_attrs["seed"] == failed.user_attrs["seed"] == reference.user_attrs["seed"]
    assert retry.intermediate_values == reference.intermediate_values  # to the last digit
    assert retry.value == reference.value
    # The retry's MLflow run holds every epoch once, the resumed ones included.
    client = MlflowClient(environment(stopped)["MLFLOW_TRACKING_URI"])
    curve = client.get_metric_history(retry.user_attrs["mlflow_run_id"], "val_accuracy")
    assert sorted(m.step for m in curve) == list(range(1, EPOCHS + 1))
    assert [m.value for m in sorted(curve, key=lambda m: m.step)] == [
        reference.intermediate_values[e] for e in range(1, EPOCHS + 1)
    ]
    # The trial ended, then the study: its checkpoints are gone.
    assert not (stopped / "automl-artifacts" / "checkpoints" / NAME).exists()
