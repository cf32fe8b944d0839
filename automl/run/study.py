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
from typing import Any

import optuna
from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial, TrialState

from automl.errors import StorageError
from automl.keys import FINALIZED_ATTR, SPACE_ATTR, SPEC_ATTR
from automl.run.recovery import retry_history
from automl.run.storage import open_storage
from automl.search.factories import make_pruner, make_sampler
from automl.search.grid import grid_size
from automl.spec.schema import StudySpec


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
        if study.get_trials(deepcopy=False):
            changed = changed_fields(json.loads(stored), fingerprint)
            raise StorageError(
                f"study {spec.name} already has trials of another search space "
                f"({', '.join(changed)} differ); pick a new name: (or --set name=...)"
            )
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


def superseded(trials: Sequence[FrozenTrial]) -> set[int]:
    """Numbers of failed trials that a retry replaces."""
    out: set[int] = set()
    for t in trials:
        out.update(retry_history(t))
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


def needs_finalizing(study: optuna.Study) -> bool:
    """A COMPLETE trial exists and the best one has not been through the final step yet
    (`automl.run.finalize`)."""
    if not study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        return False
    return bool(study.user_attrs.get(FINALIZED_ATTR) != study.best_trial.number)
