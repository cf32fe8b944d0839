"""The Optuna study of a StudySpec: opened (or joined) with its sampler and pruner and its
search space's fingerprint, its budget, and what is left of it.

The budget counts every trial of the study, whichever worker ran it; a failed trial that was
retried (a dead worker's, an interrupted one) is replaced by its retry and not counted twice.
"""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial, TrialState

from automl.errors import StorageError
from automl.keys import (
    FINALIZED_ATTR,
    HYPERPARAMETERS_ATTR,
    RUN_ID_ATTR,
    SPACE_ATTR,
    SPEC_ATTR,
)
from automl.run.recovery import superseded
from automl.run.storage import open_storage
from automl.search.factories import make_pruner, make_sampler
from automl.search.grid import grid_size
from automl.spec.schema import StudySpec
from automl.uris import local_file


def space_fingerprint(spec: StudySpec) -> dict[str, Any]:
    """What makes two runs' trial values comparable: the space, the data, the metric, epochs,
    which epoch a trial is worth (its best or its last), and the seed, which draws the data
    split and each trial's seed (None and 0 draw the same ones); the sampler's seed only
    picks the points tried, as Optuna's does."""
    return {
        "params": {p.name: repr(p.domain) for p in spec.params},
        "dataset": spec.dataset.fingerprint(),
        "metric": spec.metric,
        "epochs": spec.epochs,
        "restore_best_weights": spec.restore_best_weights,
        "seed": spec.seed or 0,
    }


def stored_fingerprint(study: optuna.Study, spec: StudySpec) -> dict[str, Any] | None:
    """The study's fingerprint as stored. One stored before the seed was part of it takes the
    seed of the study file stored with it (`spec`'s where none was stored either)."""
    stored = study.user_attrs.get(SPACE_ATTR)
    if stored is None:
        return None
    fingerprint: dict[str, Any] = json.loads(stored)
    if "seed" not in fingerprint:
        stored_spec = json.loads(study.user_attrs.get(SPEC_ATTR) or "{}")
        fingerprint["seed"] = stored_spec.get("seed", spec.seed) or 0
    return fingerprint


def open_study(spec: StudySpec, storage: str | BaseStorage) -> optuna.Study:
    """Create the study, or join it if it exists and searches the same space."""
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
            f"the file says {spec.direction}; pick a new name (--set name=...)"
        )
    fingerprint = space_fingerprint(spec)
    stored = stored_fingerprint(study, spec)
    if stored is not None and stored != fingerprint and study.get_trials(deepcopy=False):
        changed = changed_fields(stored, fingerprint)
        raise StorageError(
            f"study {spec.name} already has trials of another search space "
            f"({', '.join(changed)} differ); pick a new name (--set name=...)"
        )
    if study.user_attrs.get(SPACE_ATTR) != json.dumps(fingerprint, sort_keys=True):
        study.set_user_attr(SPACE_ATTR, json.dumps(fingerprint, sort_keys=True))
    study.set_user_attr(SPEC_ATTR, json.dumps(dataclasses.asdict(spec), sort_keys=True))
    return study


def changed_fields(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """What differs between two fingerprints: its fields, or the parameters if only they do."""
    changed = [k for k in new if old.get(k) != new[k]]
    if changed != ["params"]:
        return changed
    names = sorted(set(old["params"]) | set(new["params"]))
    return [f"params.{n}" for n in names if old["params"].get(n) != new["params"].get(n)]


def budget(spec: StudySpec, override: int | None = None) -> int:
    """The study's total number of trials: --trials, else the file's, else the grid's size."""
    total = override if override is not None else spec.trials
    if spec.sampler.name == "grid":
        size = grid_size(spec)
        return size if total is None else min(total, size)
    return total if total is not None else 20


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


def is_finished(study: optuna.Study, spec: StudySpec, total: int) -> bool:
    """Rerunning would run nothing: the study searches this space in this direction, has
    spent `total` with no trial running or queued, and its best trial has been finalized."""
    if stored_fingerprint(study, spec) != space_fingerprint(spec):
        return False  # `open_study` says what differs
    if study.direction.name.lower() != spec.direction:
        return False
    trials = study.get_trials(deepcopy=False)
    if any(t.state.name == "RUNNING" for t in trials) or work_left(trials, total):
        return False
    return not needs_finalizing(study)


def needs_finalizing(study: optuna.Study) -> bool:
    """A COMPLETE trial exists and the best one has not been through the final step yet
    (`automl.run.finalize`)."""
    if not study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        return False
    return bool(study.user_attrs.get(FINALIZED_ATTR) != study.best_trial.number)


@dataclass
class RunResult:
    """How `automl run` ended: the study's trials by state against its budget, and its best."""

    study_name: str
    budget: int
    states: dict[str, int]
    best_number: int | None = None
    best_value: float | None = None
    best_hyperparameters: dict[str, Any] = field(default_factory=dict)
    best_run_id: str | None = None
    interrupted: bool = False
    finished_before: bool = False  # the budget was spent before this run: nothing ran


def finished_result(spec: StudySpec, storage: str, total: int) -> RunResult | None:
    """How the study ended, read without starting anything (no worker, no MLflow): when it
    exists, searches this space, has spent `total` with nothing running or queued, and its
    best trial has been through the final step; else None."""
    local = local_file(storage)
    if local is not None and not local.exists():
        return None  # no study yet, and opening the storage would create its file
    try:
        study = optuna.load_study(
            study_name=spec.name, storage=open_storage(storage, readonly=True)
        )
    except KeyError:
        return None
    if not is_finished(study, spec, total):
        return None
    trials = study.get_trials(deepcopy=False)
    result = RunResult(study.study_name, total, dict(states(trials)), finished_before=True)
    return with_best(result, study)


def with_best(result: RunResult, study: optuna.Study) -> RunResult:
    """`result` with the study's best trial, where one has completed."""
    if any(t.state.name == "COMPLETE" for t in study.get_trials(deepcopy=False)):
        best = study.best_trial
        result.best_number = best.number
        result.best_value = best.value
        hyperparameters = best.user_attrs.get(HYPERPARAMETERS_ATTR, best.params)
        result.best_hyperparameters = dict(hyperparameters)
        result.best_run_id = best.user_attrs.get(RUN_ID_ATTR)
    return result
