"""The Optuna study of a StudySpec: its sampler, pruner, budget and the health of its trials.

The budget counts every trial of the study, whichever worker ran it; a failed trial that was
retried (a dead worker's, an interrupted one) is replaced by its retry and not counted twice.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import socket
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from automl.errors import MissingExtraError, StorageError
from automl.space import grid_size, grid_space
from automl.spec import StudySpec

if TYPE_CHECKING:
    import optuna
    from optuna.trial import FrozenTrial

SPACE_ATTR = "automl.space"
# The parsed study file, so `automl export` can retrain a trial on the same data and epochs.
SPEC_ATTR = "automl.spec"
WORKER_ATTR = "worker"
FAIL_REASON_ATTR = "fail_reason"


def check_requirements(spec: StudySpec) -> None:
    """Optional packages the file's choices need, named before anything runs."""
    if spec.sampler.name == "gp" and importlib.util.find_spec("torch") is None:
        raise MissingExtraError(
            "sampler gp needs PyTorch: pip install 'automl[gp]' (or pip install torch)"
        )
    if spec.sampler.name == "cmaes" and importlib.util.find_spec("cmaes") is None:
        raise MissingExtraError("sampler cmaes needs the cmaes package: pip install cmaes")


def make_sampler(spec: StudySpec) -> optuna.samplers.BaseSampler:
    import optuna

    check_requirements(spec)
    options = spec.sampler.options.kwargs()
    seed = options.pop("seed", spec.seed)
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
    """What makes two runs' trial values comparable: the space, the data, the metric, epochs."""
    return {
        "params": {p.name: repr(p.domain) for p in spec.params},
        "dataset": repr(spec.dataset),
        "metric": spec.metric,
        "epochs": spec.epochs,
    }


def open_study(spec: StudySpec, storage: str) -> optuna.Study:
    """Create the study, or join it if it exists and searches the same space."""
    import optuna

    from automl.storage import open_storage

    backend = open_storage(storage)
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


def states(trials: Sequence[FrozenTrial]) -> Counter[str]:
    replaced = superseded(trials)
    return Counter(t.state.name for t in trials if t.number not in replaced)


def this_worker() -> dict[str, Any]:
    """Who runs a trial: enough to tell later whether that process is still alive."""
    import psutil

    process = psutil.Process()
    return {"host": socket.gethostname(), "pid": process.pid, "started": process.create_time()}


def _alive(worker: dict[str, Any]) -> bool:
    import psutil

    try:
        return bool(psutil.Process(int(worker["pid"])).create_time() == worker["started"])
    except (psutil.NoSuchProcess, KeyError, ValueError, TypeError):
        return False


def retry(study: optuna.Study, trial: FrozenTrial, reason: str) -> bool:
    """Fail a trial that cannot finish and queue it again with the same parameters.

    Returns False where another process settled the trial first.
    """
    import optuna
    from optuna.storages import RetryHeartbeatStaleTrialCallback

    from automl.storage import MAX_RETRY

    storage = study._storage
    try:
        storage.set_trial_user_attr(trial._trial_id, FAIL_REASON_ATTR, reason)
        storage.set_trial_state_values(trial._trial_id, state=optuna.trial.TrialState.FAIL)
    except (optuna.exceptions.UpdateFinishedTrialError, RuntimeError):
        return False
    failed = storage.get_trial(trial._trial_id)
    RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRY)(study, failed)
    return True


def reap_dead_workers(study: optuna.Study) -> list[FrozenTrial]:
    """Retry the RUNNING trials whose worker process on this machine has died."""
    import optuna

    host = socket.gethostname()
    reaped = []
    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        worker = t.user_attrs.get(WORKER_ATTR)
        if not isinstance(worker, dict) or worker.get("host") != host or _alive(worker):
            continue
        reason = f"worker process {worker.get('pid')} on {host} died during the trial; retried"
        if retry(study, t, reason):
            reaped.append(t)
    return reaped
