"""Trials whose worker died: found, failed with the reason, and queued again as they were.

A dead worker's trial is found by its process id on this machine (`reap_dead_workers`), or by
its stale heartbeat on a database (`fail_stale`), whichever sees it first; a worker that finds
one at the start of its own trial hands it to `retry_stale`. The retry carries Optuna's retry
record, so the budget counts it in the failure's place.
"""

from __future__ import annotations

import os
import socket
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import optuna
import psutil
from optuna.storages import BaseStorage, RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.trial import FrozenTrial, TrialState

from automl.keys import (
    ARTIFACTS_PREFIX,
    DEATHS_ATTR,
    FAIL_REASON_ATTR,
    FAILED_TRIAL_ATTR,
    QUEUED_AGAIN,
    RETRY_HISTORY_ATTR,
    WORKER_ATTR,
)

MAX_DEATHS = 3
HEARTBEAT_SECONDS = 10
# A RUNNING trial whose heartbeat is older than this is failed and retried by a supervisor,
# which records why. Workers wait twice as long before failing one themselves (Optuna does
# that at the start of each trial, with no room to record a reason), so a live supervisor
# always gets there first.
GRACE_SECONDS = 30
WORKER_GRACE_SECONDS = 2 * GRACE_SECONDS


def _pid_namespace() -> str:
    # Containers on one host may share a host name (network_mode: host) but not their pids.
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return ""


def this_worker(gpu: str | None = None) -> dict[str, Any]:
    """Who runs a trial: enough to tell later whether that process is still alive."""
    process = psutil.Process()
    return {
        "host": socket.gethostname(),
        "pidns": _pid_namespace(),
        "pid": process.pid,
        "started": process.create_time(),
        "gpu": gpu,
    }


def _dead_here(worker: dict[str, Any]) -> bool:
    """True for a worker of this machine whose process is gone (or is another process now)."""
    if worker.get("host") != socket.gethostname():
        return False
    if worker.get("pidns", "") != _pid_namespace():
        return False
    try:
        started = psutil.Process(int(worker["pid"])).create_time()
    except psutil.NoSuchProcess:
        return True
    except (KeyError, ValueError, TypeError):
        return False
    # The same pid with another start time is a new process that reused the number.
    return abs(started - float(worker.get("started", 0.0))) > 1.0


# Optuna's public reader of a retry's record is marked experimental and warns at every call;
# a filter set once (a `catch_warnings` per call would re-arm every other warning shown once).
warnings.filterwarnings(
    "ignore",
    message=r".*RetryHeartbeatStaleTrialCallback\.retry_history is experimental",
    category=optuna.exceptions.ExperimentalWarning,
)


def retry_history(trial: FrozenTrial) -> list[int]:
    """The numbers of the failed trials that `trial` retries, oldest first (Optuna's record)."""
    return RetryHeartbeatStaleTrialCallback.retry_history(trial)


def superseded(trials: Sequence[FrozenTrial]) -> set[int]:
    """Numbers of failed trials that a retry replaces."""
    out: set[int] = set()
    for t in trials:
        out.update(retry_history(t))
    return out


def requeue(study: optuna.Study, failed: FrozenTrial, died: bool) -> bool:
    """Queue a failed trial again with the same parameters (and grid cell).

    The retry carries Optuna's `failed_trial` and `retry_history` system attributes, so it
    replaces the failure in the budget, and the sampler's (a grid cell's id). The failure's
    artifacts stay its own: a retry that named them too would have them deleted twice when
    its study is (optuna-dashboard answers 500 half way). Returns False where the
    configuration's worker has died too often to try again.
    """
    deaths = int(failed.system_attrs.get(DEATHS_ATTR, 0)) + int(died)
    if deaths > MAX_DEATHS:
        return False
    kept = {k: v for k, v in failed.system_attrs.items() if not k.startswith(ARTIFACTS_PREFIX)}
    system_attrs = {
        **kept,
        FAILED_TRIAL_ATTR: failed.system_attrs.get(FAILED_TRIAL_ATTR, failed.number),
        RETRY_HISTORY_ATTR: [*retry_history(failed), failed.number],
        DEATHS_ATTR: deaths,
    }
    study.add_trial(
        optuna.create_trial(
            state=TrialState.WAITING,
            params=failed.params,
            distributions=failed.distributions,
            system_attrs=system_attrs,
        )
    )
    return True


def retry(
    study: optuna.Study, storage: BaseStorage, trial: FrozenTrial, trial_id: int, why: str
) -> FrozenTrial | None:
    """Fail a RUNNING trial (its id `trial_id` in `storage`) whose worker is gone, with the
    reason, and queue it again; returns the failed trial, or None where another process
    settled it first."""
    if int(trial.system_attrs.get(DEATHS_ATTR, 0)) + 1 <= MAX_DEATHS:
        reason = f"{why}; retried with the same parameters"
    else:
        reason = f"{why}; not retried: workers died {MAX_DEATHS + 1} times on these parameters"
    try:
        storage.set_trial_user_attr(trial_id, FAIL_REASON_ATTR, reason)
        if not storage.set_trial_state_values(trial_id, state=TrialState.FAIL):
            return None
    except optuna.exceptions.UpdateFinishedTrialError:
        return None
    failed = storage.get_trial(trial_id)
    requeue(study, failed, died=True)
    return failed


def retry_stale(study: optuna.Study, failed: FrozenTrial) -> None:
    """Optuna's heartbeat callback: a worker found a stale trial before any supervisor did."""
    requeue(study, failed, died=True)


def died_here(worker: dict[str, Any]) -> str | None:
    """Why a trial's worker of this machine is gone; None while it may be alive."""
    if not _dead_here(worker):
        return None
    return f"worker process {worker['pid']} on {worker['host']} died during the trial"


def reap_dead_workers(
    study: optuna.Study,
    storage: BaseStorage,
    gone: Callable[[dict[str, Any]], str | None] = died_here,
) -> list[FrozenTrial]:
    """Retry the RUNNING trials whose worker is gone, by `gone`'s verdict on the trial's
    worker (a process of this machine unless told otherwise); returns them as failed."""
    study_id = storage.get_study_id_from_name(study.study_name)
    reaped = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        worker = t.user_attrs.get(WORKER_ATTR)
        why = gone(worker) if isinstance(worker, dict) else None
        if why is None:
            continue
        trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, t.number)
        failed = retry(study, storage, t, trial_id, why)
        if failed is not None:
            reaped.append(failed)
    return reaped


def stale_trial_ids(storage: RDBStorage, study_id: int) -> list[int]:
    """The RUNNING trials of the study whose heartbeat is older than the storage's grace period.

    Optuna has no public query for them: its public `fail_stale_trials` fails them before its
    callback runs, leaving no way to record why. tests/test_run_recovery.py checks that this
    private method still exists and still answers so.
    """
    return list(storage._get_stale_trial_ids(study_id))


def fail_stale(study: optuna.Study, storage: BaseStorage) -> list[FrozenTrial]:
    """Database storages: retry the RUNNING trials whose worker stopped its heartbeat; returns
    them as failed."""
    if not isinstance(storage, RDBStorage) or storage.get_heartbeat_interval() is None:
        return []
    failed = []
    for trial_id in stale_trial_ids(storage, storage.get_study_id_from_name(study.study_name)):
        stale = storage.get_trial(trial_id)
        worker = stale.user_attrs.get(WORKER_ATTR)
        where = f"on {worker.get('host')}" if isinstance(worker, dict) else "of another process"
        why = (
            f"no heartbeat for {GRACE_SECONDS} s: "
            f"its worker {where} died, stalled or lost the database"
        )
        trial = retry(study, storage, stale, trial_id, why)
        if trial is not None:
            failed.append(trial)
    return failed


def requeue_stopped(study: optuna.Study) -> list[FrozenTrial]:
    """Queue again the stopped trials that nothing has queued: their worker failed the trial
    but was ended before it could queue it (Ray kills the workers of a killed driver). Call it
    under the study lock, as the worker queues its own: a trial is queued once."""
    trials = study.get_trials(deepcopy=False)
    replaced = superseded(trials)
    stopped = [
        t
        for t in trials
        if t.state == TrialState.FAIL
        and t.number not in replaced
        and str(t.user_attrs.get(FAIL_REASON_ATTR, "")).endswith(QUEUED_AGAIN)
    ]
    return [t for t in stopped if requeue(study, t, died=False)]
