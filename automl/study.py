"""The Optuna study of a StudySpec: its sampler, pruner, budget and the health of its trials.

The budget counts every trial of the study, whichever worker ran it; a failed trial that was
retried (a dead worker's, an interrupted one) is replaced by its retry and not counted twice.
A trial whose worker died is failed with the reason and queued again with the same
parameters: found by its process id on this machine (`reap_dead_workers`), or by its stale
heartbeat on a database (`fail_stale`), whichever sees it first.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import socket
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from automl.errors import MissingExtraError, StorageError
from automl.space import grid_size, grid_space
from automl.spec import StudySpec

if TYPE_CHECKING:
    import optuna
    from optuna.storages import BaseStorage
    from optuna.trial import FrozenTrial

SPACE_ATTR = "automl.space"
# The parsed study file, so `automl export` can retrain a trial on the same data and epochs.
SPEC_ATTR = "automl.spec"
WORKER_ATTR = "worker"
FAIL_REASON_ATTR = "fail_reason"
# A retry's system attribute: how often its configuration's worker has died so far. A
# configuration that kills its worker again and again (say, out of memory) is given up.
DEATHS_ATTR = "automl.worker_deaths"
MAX_DEATHS = 3


def check_requirements(spec: StudySpec) -> None:
    """Optional packages the file's choices need, named before anything runs."""
    if spec.sampler.name == "gp" and importlib.util.find_spec("torch") is None:
        raise MissingExtraError(
            "sampler gp needs PyTorch: pip install 'automl[gp]' (or pip install torch)"
        )
    if spec.sampler.name == "cmaes" and importlib.util.find_spec("cmaes") is None:
        raise MissingExtraError("sampler cmaes needs the cmaes package: pip install cmaes")


def make_sampler(spec: StudySpec, stream: int = 0) -> optuna.samplers.BaseSampler:
    """The file's sampler. Each worker process passes its own `stream`: with one seed for all,
    every worker (and every fresh one replacing a retired worker) would draw the same points.
    The grid is the exception: its seed shuffles the cells, and every worker must agree on
    which cell each grid id is."""
    import optuna

    check_requirements(spec)
    options = spec.sampler.options.kwargs()
    seed = options.pop("seed", spec.seed)
    if seed is not None and stream and spec.sampler.name != "grid":
        seed = (seed + stream * 1_000_003) % 2**32
    name = spec.sampler.name
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed, **options)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "grid":
        return optuna.samplers.GridSampler(grid_space(spec), seed=seed)
    if name == "qmc":
        return optuna.samplers.QMCSampler(seed=seed, **options)
    if name == "cmaes":
        return optuna.samplers.CmaEsSampler(seed=seed, **options)
    if name == "gp":
        return optuna.samplers.GPSampler(seed=seed, **options)
    raise ValueError(f"unknown sampler {name}")


def make_pruner(spec: StudySpec) -> optuna.pruners.BasePruner:
    import optuna

    options = spec.pruner.options.kwargs()
    name = spec.pruner.name
    if name == "none":
        return optuna.pruners.NopPruner()
    if name == "median":
        return optuna.pruners.MedianPruner(**options)
    if name == "percentile":
        return optuna.pruners.PercentilePruner(**{"percentile": 25.0, **options})
    if name == "hyperband":
        options.setdefault("max_resource", spec.epochs)
        return optuna.pruners.HyperbandPruner(**options)
    if name == "sha":
        return optuna.pruners.SuccessiveHalvingPruner(**options)
    if name == "patient":
        wrapped = (
            optuna.pruners.MedianPruner() if options.pop("wrapped", None) == "median" else None
        )
        return optuna.pruners.PatientPruner(wrapped, **options)
    if name == "threshold":
        return optuna.pruners.ThresholdPruner(**options)
    raise ValueError(f"unknown pruner {name}")


def space_fingerprint(spec: StudySpec) -> dict[str, Any]:
    """What makes two runs' trial values comparable: the space, the data, the metric, epochs,
    and which epoch a trial is worth (its best or its last)."""
    return {
        "params": {p.name: repr(p.domain) for p in spec.params},
        "dataset": repr(spec.dataset),
        "metric": spec.metric,
        "epochs": spec.epochs,
        "restore_best_weights": spec.restore_best_weights,
    }


def open_study(spec: StudySpec, storage: str | BaseStorage) -> optuna.Study:
    """Create the study, or join it if it exists and searches the same space."""
    import optuna

    from automl.storage import open_storage

    backend = open_storage(storage) if isinstance(storage, str) else storage
    study = optuna.create_study(
        study_name=spec.name,
        storage=backend,
        sampler=make_sampler(spec),
        pruner=make_pruner(spec),
        direction=spec.direction,  # type: ignore[arg-type]
        load_if_exists=True,
    )
    if study.direction.name.lower() != spec.direction:
        raise StorageError(
            f"study {spec.name} exists with direction {study.direction.name.lower()}, "
            f"the file says {spec.direction}; pick a new name:"
        )
    fingerprint = space_fingerprint(spec)
    stored = study.user_attrs.get(SPACE_ATTR)
    if stored is None:
        study.set_user_attr(SPACE_ATTR, json.dumps(fingerprint, sort_keys=True))
    elif json.loads(stored) != fingerprint:
        old = json.loads(stored)
        changed = [k for k in fingerprint if old.get(k) != fingerprint[k]]
        if changed == ["params"]:
            changed = [
                f"params.{n}"
                for n in sorted(set(old["params"]) | set(fingerprint["params"]))
                if old["params"].get(n) != fingerprint["params"].get(n)
            ]
        if study.get_trials(deepcopy=False):
            raise StorageError(
                f"study {spec.name} already has trials of another search space "
                f"({', '.join(changed)} differ); pick a new name: (or --set name=...)"
            )
        study.set_user_attr(SPACE_ATTR, json.dumps(fingerprint, sort_keys=True))
    study.set_user_attr(SPEC_ATTR, json.dumps(dataclasses.asdict(spec), sort_keys=True))
    return study


def budget(spec: StudySpec, override: int | None = None) -> int:
    """The study's total number of trials: --trials, else the file's, else the grid's size."""
    total = override if override is not None else spec.trials
    if spec.sampler.name == "grid":
        size = grid_size(spec)
        return size if total is None else min(total, size)
    return total if total is not None else 20


def superseded(trials: Sequence[FrozenTrial]) -> set[int]:
    """Numbers of failed trials that a retry replaces."""
    out: set[int] = set()
    for t in trials:
        out.update(t.system_attrs.get("retry_history", []))
    return out


def counted(trials: Sequence[FrozenTrial]) -> int:
    """Trials that use up the budget: all of them but failures replaced by a retry."""
    replaced = superseded(trials)
    return sum(1 for t in trials if t.number not in replaced)


def work_left(trials: Sequence[FrozenTrial], total: int) -> int:
    """Trials still to start: the unspent budget plus the queued (WAITING) retries."""
    waiting = sum(1 for t in trials if t.state.name == "WAITING")
    return max(0, total - counted(trials)) + waiting


def states(trials: Sequence[FrozenTrial]) -> Counter[str]:
    replaced = superseded(trials)
    return Counter(t.state.name for t in trials if t.number not in replaced)


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

    from automl.storage import GRACE_SECONDS

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
