"""The Optuna study of a StudySpec: its sampler, pruner, budget and the health of its trials.

The budget counts every trial of the study, whichever worker ran it; a failed trial that was
retried (a dead worker's, an interrupted one) is replaced by its retry and not counted twice.
A trial whose worker died is failed with the reason and queued again with the same
parameters: found by its process id on this machine (`reap_dead_workers`), or by its stale
heartbeat on a database (`fail_stale`), whichever sees it first.
"""

from __future__ import annotations

import os
import socket
from typing import TYPE_CHECKING, Any

from automl.keys import DEATHS_ATTR, FAIL_REASON_ATTR, WORKER_ATTR

if TYPE_CHECKING:
    import optuna
    from optuna.trial import FrozenTrial
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
    import psutil

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
    import psutil

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


def requeue(study: optuna.Study, failed: FrozenTrial, died: bool) -> bool:
    """Queue a failed trial again with the same parameters (and grid cell).

    The retry carries Optuna's `failed_trial` and `retry_history` system attributes, so it
    replaces the failure in the budget. Returns False where the configuration's worker has
    died too often to try again.
    """
    import optuna

    deaths = int(failed.system_attrs.get(DEATHS_ATTR, 0)) + int(died)
    if deaths > MAX_DEATHS:
        return False
    system_attrs = {
        **failed.system_attrs,
        "failed_trial": failed.system_attrs.get("failed_trial", failed.number),
        "retry_history": [*failed.system_attrs.get("retry_history", []), failed.number],
        DEATHS_ATTR: deaths,
    }
    study.add_trial(
        optuna.create_trial(
            state=optuna.trial.TrialState.WAITING,
            params=failed.params,
            distributions=failed.distributions,
            system_attrs=system_attrs,
        )
    )
    return True


def retry(study: optuna.Study, trial: FrozenTrial, why: str) -> bool:
    """Fail a RUNNING trial whose worker is gone, with the reason, and queue it again.

    Returns False where another process settled the trial first.
    """
    import optuna

    again = int(trial.system_attrs.get(DEATHS_ATTR, 0)) + 1 <= MAX_DEATHS
    if again:
        reason = f"{why}; retried with the same parameters"
    else:
        reason = f"{why}; not retried: workers died {MAX_DEATHS + 1} times on these parameters"
    storage = study._storage
    try:
        storage.set_trial_user_attr(trial._trial_id, FAIL_REASON_ATTR, reason)
        if not storage.set_trial_state_values(trial._trial_id, state=optuna.trial.TrialState.FAIL):
            return False
    except optuna.exceptions.UpdateFinishedTrialError:
        return False
    requeue(study, storage.get_trial(trial._trial_id), died=True)
    return True


def retry_stale(study: optuna.Study, failed: FrozenTrial) -> None:
    """Optuna's heartbeat callback: a worker found a stale trial before any supervisor did."""
    requeue(study, failed, died=True)


def reap_dead_workers(study: optuna.Study) -> list[FrozenTrial]:
    """Retry the RUNNING trials whose worker process on this machine has died."""
    import optuna

    reaped = []
    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        worker = t.user_attrs.get(WORKER_ATTR)
        if not isinstance(worker, dict) or not _dead_here(worker):
            continue
        why = f"worker process {worker['pid']} on {worker['host']} died during the trial"
        if retry(study, t, why):
            reaped.append(t)
    return reaped


def fail_stale(study: optuna.Study) -> list[FrozenTrial]:
    """Database storages: retry the RUNNING trials whose worker stopped its heartbeat."""
    # Optuna's own fail_stale_trials fails them before its callback runs, leaving no way to
    # record why; this does the same through the storage's (private) stale-trial query.
    from optuna.storages._heartbeat import is_heartbeat_enabled

    storage = study._storage
    if not is_heartbeat_enabled(storage):
        return []
    failed = []
    for trial_id in storage._get_stale_trial_ids(study._study_id):  # type: ignore[attr-defined]
        trial = storage.get_trial(trial_id)
        worker = trial.user_attrs.get(WORKER_ATTR)
        where = f"on {worker.get('host')}" if isinstance(worker, dict) else "of another process"
        why = (
            f"no heartbeat for {GRACE_SECONDS} s: "
            f"its worker {where} died, stalled or lost the database"
        )
        if retry(study, trial, why):
            failed.append(trial)
    return failed
