"""The Optuna study of a StudySpec: its sampler, pruner, budget and the health of its trials.

The budget counts every trial of the study, whichever worker ran it; a failed trial that was
retried (a dead worker's, an interrupted one) is replaced by its retry and not counted twice.
A trial whose worker died is failed with the reason and queued again with the same
parameters: found by its process id on this machine (`reap_dead_workers`), or by its stale
heartbeat on a database (`fail_stale`), whichever sees it first.
"""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from automl.errors import StorageError
from automl.keys import SPACE_ATTR, SPEC_ATTR
from automl.search.factories import make_pruner, make_sampler
from automl.search.grid import grid_size
from automl.spec.schema import StudySpec

if TYPE_CHECKING:
    import optuna
    from optuna.storages import BaseStorage
    from optuna.trial import FrozenTrial


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

    from automl.run.storage import open_storage

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
