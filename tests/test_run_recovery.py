"""Retrying the trials of dead workers with real processes on a real journal, and the stale
heartbeats of a database storage."""

from __future__ import annotations

import io
import json
import socket
import subprocess
import sys
import time
from pathlib import Path
from wsgiref.util import setup_testing_defaults

import optuna
import optuna_dashboard
import pytest
from optuna.artifacts import FileSystemArtifactStore, upload_artifact
from optuna.trial import TrialState

from automl.keys import ARTIFACTS_PREFIX
from automl.run.recovery import (
    MAX_DEATHS,
    fail_stale,
    reap_dead_workers,
    requeue,
    requeue_stopped,
    stale_trial_ids,
    superseded,
    this_worker,
)
from automl.run.storage import open_storage
from automl.run.study import counted, work_left
from tests.processes import GRID, environment

# ---- Retrying the trials of dead workers, on a real journal ---------------------------


def _dead_worker() -> dict:
    """The identity of a worker process that has exited (a real one, not made up)."""
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            (
                "import json; from automl.run.recovery import this_worker; "
                "print(json.dumps(this_worker()))"
            ),
        ],
        capture_output=True,
        text=True,
        check=True,
        env=environment(Path.cwd()),
    ).stdout
    return json.loads(out)


def _running_trial(study: optuna.Study, worker: dict) -> optuna.trial.FrozenTrial:
    trial = study.ask()
    trial.suggest_categorical("learning_rate", GRID["learning_rate"])
    trial.suggest_categorical("width", GRID["width"])
    trial.set_user_attr("worker", worker)
    return study._storage.get_trial(trial._trial_id)


def _reap(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    """`reap_dead_workers` on the study's own storage."""
    return reap_dead_workers(study, study._storage)


@pytest.fixture
def grid_study(tmp_path) -> optuna.Study:
    return optuna.create_study(
        study_name="reap",
        storage=open_storage(str(tmp_path / "s.journal")),
        sampler=optuna.samplers.GridSampler(GRID, seed=0),
    )


def test_a_dead_workers_trial_is_failed_with_its_reason_and_retried_as_it_was(grid_study):
    dead = _dead_worker()
    first = _running_trial(grid_study, dead)
    reaped = _reap(grid_study)
    assert [t.number for t in reaped] == [first.number]
    all_trials = grid_study.get_trials()
    failed, retry = all_trials
    assert failed.state.name == "FAIL"
    assert (
        f"worker process {dead['pid']} on {socket.gethostname()} died"
        in (failed.user_attrs["fail_reason"])
    )
    assert failed.user_attrs["fail_reason"].endswith("retried with the same parameters")
    assert retry.state.name == "WAITING" and retry.params == failed.params
    assert retry.system_attrs["grid_id"] == failed.system_attrs["grid_id"]  # same grid cell
    assert retry.system_attrs["retry_history"] == [failed.number]
    assert "fail_reason" not in retry.user_attrs
    # The retry takes the failure's place in the budget, and is work still to do.
    assert superseded(all_trials) == {failed.number}
    assert counted(all_trials) == 1 and work_left(all_trials, 1) == 1
    assert _reap(grid_study) == []  # once only


def test_live_workers_and_other_machines_trials_are_left_running(grid_study):
    me = this_worker()
    elsewhere = {**_dead_worker(), "host": "another-machine"}
    reused_pid = {**me, "started": me["started"] - 100}  # this pid, but another process's
    _running_trial(grid_study, me)
    _running_trial(grid_study, elsewhere)
    third = _running_trial(grid_study, reused_pid)
    assert [t.number for t in _reap(grid_study)] == [third.number]
    states = [t.state.name for t in grid_study.get_trials()]
    assert states == ["RUNNING", "RUNNING", "FAIL", "WAITING"]


def test_parameters_that_keep_killing_workers_are_given_up(grid_study):
    dead = _dead_worker()
    first = _running_trial(grid_study, dead)
    for _ in range(MAX_DEATHS):
        assert _reap(grid_study)
        retry = grid_study.ask()  # a worker pops the retry, and dies too
        assert retry.params == first.params
        retry.set_user_attr("worker", dead)
    _reap(grid_study)
    all_trials = grid_study.get_trials()
    last = all_trials[-1]
    assert last.state.name == "FAIL"
    assert "not retried" in last.user_attrs["fail_reason"]
    assert not [t for t in all_trials if t.state.name in ("WAITING", "RUNNING")]
    assert counted(all_trials) == 1  # the give-up counts once


def _stopped(study: optuna.Study, reason: str) -> optuna.trial.FrozenTrial:
    """A trial its worker failed with `reason`, as a stop signal leaves it."""
    trial = _running_trial(study, this_worker())
    study._storage.set_trial_user_attr(trial._trial_id, "fail_reason", reason)
    study._storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
    return study._storage.get_trial(trial._trial_id)


def test_a_stopped_trial_its_worker_could_not_queue_is_queued_by_the_next_run(grid_study):
    """A worker killed between failing its stopped trial and queueing it (Ray ends a killed
    driver's workers at once): the next run queues it, once; other failures stay as they are."""
    orphan = _stopped(
        grid_study, "stopped: its automl run process ended; queued again for the next run"
    )
    _stopped(grid_study, "training failed: ValueError: shapes do not fit")
    queued = _stopped(grid_study, "interrupted (Ctrl-C); queued again for the next run")
    assert requeue(grid_study, queued, died=False)  # its worker got to it
    assert [t.number for t in requeue_stopped(grid_study)] == [orphan.number]
    assert requeue_stopped(grid_study) == []
    waiting = [t for t in grid_study.get_trials() if t.state.name == "WAITING"]
    assert sorted(t.system_attrs["retry_history"] for t in waiting) == [
        [orphan.number],
        [queued.number],
    ]
    retry = next(t for t in waiting if t.system_attrs["retry_history"] == [orphan.number])
    assert retry.params == orphan.params


@pytest.mark.filterwarnings(
    "ignore:Argument ``heartbeat_interval`` is an experimental feature",
    "ignore:Heartbeat of storage is supposed to be used with Study.optimize",
)
def test_the_private_stale_trial_query_still_answers_as_fail_stale_needs(tmp_path):
    """`fail_stale` relies on RDBStorage._get_stale_trial_ids, which Optuna keeps private: this
    fails loudly when an Optuna release renames it or changes what it returns."""
    storage = optuna.storages.RDBStorage(
        f"sqlite:///{tmp_path / 'stale.db'}", heartbeat_interval=1, grace_period=1
    )
    study = optuna.create_study(study_name="stale", storage=storage)
    study_id = storage.get_study_id_from_name("stale")
    trial = study.ask()
    trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, trial.number)
    storage.record_heartbeat(trial_id)
    assert stale_trial_ids(storage, study_id) == []
    time.sleep(2.5)  # SQLite's clock has whole seconds
    assert stale_trial_ids(storage, study_id) == [trial_id]
    (failed,) = fail_stale(study, storage)
    assert failed.number == trial.number and failed.state.name == "FAIL"
    assert failed.user_attrs["fail_reason"].startswith("no heartbeat for")
    assert [t.state.name for t in study.get_trials()] == ["FAIL", "WAITING"]


# ---- A retry's artifacts are its own ------------------------------------------------------


def _with_artifacts(study: optuna.Study, store, folder: Path, worker: dict) -> int:
    """A RUNNING trial of `worker` with two files uploaded to it, as a worker's tracker does."""
    trial = study.ask()
    trial.suggest_categorical("learning_rate", GRID["learning_rate"])
    trial.suggest_categorical("width", GRID["width"])
    trial.set_user_attr("worker", worker)
    for name in ("curves.png", "notes.txt"):
        (folder / name).write_bytes(b"\x89PNG\r\n" + name.encode())
        upload_artifact(artifact_store=store, file_path=str(folder / name), study_or_trial=trial)
    return trial.number


def _artifact_ids(trial: optuna.trial.FrozenTrial) -> set[str]:
    return {k for k in trial.system_attrs if k.startswith(ARTIFACTS_PREFIX)}


def _delete(app, study_id: int) -> str:
    """DELETE a study through optuna-dashboard's own API, as its page does."""
    body = json.dumps({"remove_associated_artifacts": True}).encode()
    environ = {
        "REQUEST_METHOD": "DELETE",
        "PATH_INFO": f"/api/studies/{study_id}",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
    }
    setup_testing_defaults(environ)
    status: list[str] = []
    b"".join(app(environ, lambda s, headers, exc_info=None: status.append(s)))
    return status[0]


@pytest.mark.parametrize("retries", ["a dead worker's", "an interrupted one", "retried twice"])
def test_a_retry_holds_none_of_its_failures_artifacts_and_its_study_deletes(
    tmp_path: Path, retries: str
) -> None:
    storage = open_storage(str(tmp_path / "s.journal"))
    store_dir = tmp_path / "automl-artifacts"
    store_dir.mkdir()
    store = FileSystemArtifactStore(str(store_dir))
    grid = optuna.samplers.GridSampler(GRID, seed=0)
    study = optuna.create_study(study_name="retried", storage=storage, sampler=grid)
    number = _with_artifacts(study, store, tmp_path, _dead_worker())
    if retries == "an interrupted one":
        trial_id = storage.get_trial_id_from_study_id_trial_number(study._study_id, number)
        storage.set_trial_state_values(trial_id, state=TrialState.FAIL)
        requeue(study, storage.get_trial(trial_id), died=False)
    else:
        _reap(study)
    if retries == "retried twice":
        # The retry starts, gets artifacts of its own, and its worker dies too.
        retry = study.ask()
        upload_artifact(
            artifact_store=store, file_path=str(tmp_path / "notes.txt"), study_or_trial=retry
        )
        storage.set_trial_user_attr(retry._trial_id, "worker", _dead_worker())
        _reap(study)
    *failures, last = study.get_trials()
    assert last.state.name == "WAITING"
    assert last.params == failures[0].params
    assert last.system_attrs["grid_id"] == failures[0].system_attrs["grid_id"]
    assert _artifact_ids(last) == set()
    ids = [i for t in failures for i in _artifact_ids(t)]
    assert len(ids) == len(set(ids)) == 2 * len(failures) - (retries == "retried twice")
    other = optuna.create_study(study_name="other", storage=storage)
    _with_artifacts(other, store, tmp_path, this_worker())
    theirs = {p.name for p in store_dir.iterdir()} - {i.removeprefix(ARTIFACTS_PREFIX) for i in ids}
    assert len(theirs) == 2
    app = optuna_dashboard.wsgi(storage, artifact_store=store)
    assert _delete(app, study._study_id).startswith("204")
    assert optuna.get_all_study_names(storage) == ["other"]
    assert {p.name for p in store_dir.iterdir()} == theirs
