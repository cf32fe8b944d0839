"""Many workers on one study: the budget met exactly, killed workers' trials retried, stop
signals, retiring workers.

The tests run `automl run` as real processes on digits and kill or interrupt them with real
signals.
"""

from __future__ import annotations

import os
import signal

import pytest
from mlflow import MlflowClient

from automl.run.recovery import superseded
from automl.run.supervisor import run_study
from automl.spec.reading import load_spec
from tests.processes import (
    GRID,
    SLOW_BATCHES,
    cells,
    environment,
    finish,
    grid_cells,
    live,
    start_run,
    study_file,
    training_trial,
    trials,
    wait_for,
)

# ---- automl run with many workers ------------------------------------------------------

GRID4 = {"learning_rate": [0.03, 0.01], "width": [8, 16]}


def _check_done(all_trials, budget: int) -> None:
    """The study as a user checks it: the budget met exactly, nothing running or lost."""
    standing = live(all_trials)
    assert len(standing) == budget, [(t.number, t.state.name) for t in all_trials]
    assert {t.state.name for t in standing} <= {"COMPLETE", "PRUNED"}
    assert all(t.number in superseded(all_trials) for t in all_trials if t.state.name == "FAIL")


@pytest.mark.slow
def test_two_local_workers_share_the_default_journal(tmp_path):
    spec = study_file(tmp_path, "two-workers")
    code, out = finish(start_run(tmp_path, spec, "--workers", "2"))
    assert code == 0, out
    assert "database is locked" not in out and "Traceback" not in out
    all_trials = trials(str(tmp_path / "automl.journal"), "two-workers")  # the default storage
    _check_done(all_trials, 6)
    assert len(all_trials) == 6
    assert set(cells(all_trials)) == grid_cells() and max(cells(all_trials).values()) == 1
    workers = {t.user_attrs["worker"]["pid"] for t in all_trials}
    assert len(workers) == 2, "both workers ran trials"
    assert all(t.user_attrs["worker"]["gpu"] is None for t in all_trials)  # CPU only: no GPU


@pytest.mark.slow
def test_a_worker_killed_mid_trial_is_retried_and_every_cell_completes_once(tmp_path):
    spec = study_file(tmp_path, "kill", epochs=8, grid=GRID4)
    storage = str(tmp_path / "s.journal")
    # A machine with GPUs 0 and 1 (TensorFlow for the CPU ignores them).
    gpus = {"CUDA_VISIBLE_DEVICES": "0,1"}
    proc = start_run(
        tmp_path, spec, "--storage", storage, "--workers", "2", "--gpus", "0,1", env=gpus
    )
    victim = wait_for("a trial in training", lambda: training_trial(storage, "kill"), proc)
    os.kill(victim.user_attrs["worker"]["pid"], signal.SIGKILL)
    code, out = finish(proc)
    assert code == 0, out
    all_trials = trials(storage, "kill")
    _check_done(all_trials, 4)
    killed = all_trials[victim.number]
    assert killed.state.name == "FAIL"
    assert "died during the trial; retried" in killed.user_attrs["fail_reason"]
    (retry,) = [t for t in all_trials if killed.number in t.system_attrs.get("retry_history", [])]
    assert retry.state.name == "COMPLETE" and retry.params == killed.params
    assert set(cells(all_trials)) == grid_cells(GRID4) and max(cells(all_trials).values()) == 1
    # --gpus 0,1: worker i got GPU i mod 2.
    assert {t.user_attrs["worker"]["gpu"] for t in all_trials} == {"0", "1"}
    # The dead trial's MLflow run does not stay RUNNING either.
    run = MlflowClient(environment(tmp_path)["MLFLOW_TRACKING_URI"]).get_run(
        killed.user_attrs["mlflow_run_id"]
    )
    assert run.info.status == "FAILED" and "died" in run.data.tags["automl.fail_reason"]


@pytest.mark.slow
def test_stop_signals_mark_the_trial_and_the_next_run_resumes(tmp_path):
    """Ctrl-C (SIGINT to the process group), SIGTERM to `automl run` alone (docker stop), and
    SIGKILL of `automl run` (its worker follows): each time the running trial says why it
    stopped and is queued again; a last run meets the budget with nothing left behind."""
    grid = {**GRID, **SLOW_BATCHES}
    spec = study_file(tmp_path, "stops", sampler="random", trials=4, epochs=8, grid=grid)
    storage = str(tmp_path / "s.journal")
    stops = [
        (lambda p: os.killpg(p.pid, signal.SIGINT), 130, "interrupted (Ctrl-C)"),
        (lambda p: os.kill(p.pid, signal.SIGTERM), 130, "stopped by SIGTERM"),
        (lambda p: os.kill(p.pid, signal.SIGKILL), -9, "stopped: its automl run process ended"),
    ]
    stopped = []
    for send, expected_code, reason in stops:
        proc = start_run(tmp_path, spec, "--storage", storage)
        victim = wait_for("a trial in training", lambda: training_trial(storage, "stops"), proc)
        send(proc)
        code, out = finish(proc, timeout=90)
        assert code == expected_code, out
        if code == 130:
            assert "run the same command again to resume" in out
        # The worker requeued its trial itself: nothing is left RUNNING for anyone to reap.
        all_trials = wait_for(
            "the stopped trial requeued",
            lambda: (
                [t for t in trials(storage, "stops") if t.state.name == "WAITING"]
                and trials(storage, "stops")
            ),
            None,
            timeout=90,
        )
        assert not [t for t in all_trials if t.state.name == "RUNNING"]
        failed = all_trials[victim.number]
        assert failed.state.name == "FAIL"
        assert failed.user_attrs["fail_reason"] == f"{reason}; queued again for the next run"
        stopped.append(failed)
    code, out = finish(start_run(tmp_path, spec, "--storage", storage))
    assert code == 0, out
    all_trials = trials(storage, "stops")
    _check_done(all_trials, 4)
    for failed in stopped:
        (retry,) = [
            t for t in all_trials if t.system_attrs.get("retry_history", [])[-1:] == [failed.number]
        ]
        assert retry.params == failed.params


@pytest.mark.slow
def test_a_worker_that_grew_retires_and_a_fresh_one_goes_on(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", environment(tmp_path)["PYTHONPATH"])
    spec = load_spec(study_file(tmp_path, "retire", sampler="random", trials=3))
    storage = str(tmp_path / "s.journal")
    # Any growth at all retires a worker after its second trial.
    result = run_study(spec, storage, None, workers=1, rss_growth_limit_mb=-1e9)
    assert result.states == {"COMPLETE": 3}
    all_trials = trials(storage, "retire")
    pids = [t.user_attrs["worker"]["pid"] for t in all_trials]
    assert pids[0] == pids[1] != pids[2]
