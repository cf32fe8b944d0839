"""What a storage holds, as plain data: its studies, a study's best trial and its top K.

`automl studies`, `automl best` (and its `--json`), the report and the export all read
studies through here, so they agree on which trial is the best and on what it shows.
Hyperparameters come from the trial's hyperparameters user attribute (β as β), not from
Optuna's params, where a log1m range is stored as `one_minus_<name>`.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import optuna

from automl.errors import StorageError
from automl.keys import (
    EPOCHS_ATTR,
    HYPERPARAMETERS_ATTR,
    MODEL_ATTR,
    PARENT_RUN_ATTR,
    RUN_ID_ATTR,
    SEED_ATTR,
    SPACE_ATTR,
    TEST_ACCURACY,
    TEST_ATTR,
    TEST_TRIAL,
)
from automl.ranking import rank
from automl.run.storage import open_storage
from automl.search.space import LOG1M_PREFIX
from automl.uris import is_url, mask

if TYPE_CHECKING:
    from optuna.trial import FrozenTrial


@dataclass(frozen=True)
class StudySummary:
    """One row of `automl studies`."""

    name: str
    direction: str
    metric: str | None
    states: dict[str, int]
    best_value: float | None
    best_number: int | None
    last_activity: datetime | None

    @property
    def total(self) -> int:
        return sum(self.states.values())


@dataclass(frozen=True)
class TrialRow:
    """A finished trial as a user reads it."""

    number: int
    state: str
    value: float | None
    hyperparameters: dict[str, Any]
    seed: int | None
    epochs: int | None
    mlflow_run_id: str | None
    model_artifact: str | None
    duration_s: float | None
    test_accuracy: float | None = None


@dataclass(frozen=True)
class BestReport:
    """`automl best`: the best trial, the top K, and where the study's runs are."""

    study: str
    direction: str
    metric: str | None
    states: dict[str, int]
    best: TrialRow
    top: list[TrialRow]
    searched: list[str]
    test: dict[str, Any] | None = None
    mlflow_parent_run_id: str | None = None

    def as_json(self) -> dict[str, Any]:
        """The same fields as one JSON-ready object (for scripts: `automl best --json`)."""
        out = asdict(self)
        # The best trial's headline fields also sit at the top level, for `jq .value` scripts.
        best = out["best"]
        for key in ("number", "value", "hyperparameters", "seed", "mlflow_run_id", "test_accuracy"):
            out[key] = best[key]
        return out


def list_studies(storage_url: str) -> list[StudySummary]:
    """Every study in the storage, with its trials counted by state (for `automl studies`)."""
    storage = open_storage(storage_url, must_exist=True, readonly=True)
    out = []
    for frozen in storage.get_all_studies():
        study_id = storage.get_study_id_from_name(frozen.study_name)
        trials = storage.get_all_trials(study_id, deepcopy=False)
        direction = frozen.direction.name.lower()
        ranking = rank(trials, direction)
        best = ranking[0] if ranking else None
        out.append(
            StudySummary(
                name=frozen.study_name,
                direction=direction,
                metric=_metric(frozen.user_attrs),
                states=dict(Counter(t.state.name for t in trials)),
                best_value=best.value if best else None,
                best_number=best.number if best else None,
                last_activity=_last_activity(trials),
            )
        )
    return sorted(out, key=lambda s: s.name)


def local_study_names(storage_url: str) -> list[str]:
    """The studies of a storage in a local file, for shell completion: none for a server, which
    could keep the shell waiting, and none when the storage cannot be read."""
    if is_url(storage_url) and not storage_url.startswith("sqlite:///"):
        return []
    try:
        optuna.logging.set_verbosity(optuna.logging.ERROR)
        return optuna.get_all_study_names(
            storage=open_storage(storage_url, must_exist=True, readonly=True)
        )
    except Exception:  # noqa: BLE001 - completion must never print a traceback into a shell
        return []


def load_study(storage_url: str, name: str) -> optuna.Study:
    """Open an existing study; an unknown name lists the studies that exist."""
    storage = open_storage(storage_url, must_exist=True, readonly=True)
    try:
        storage.get_study_id_from_name(name)
    except KeyError:
        names = sorted(s.study_name for s in storage.get_all_studies())
        known = f"studies there: {', '.join(names)}" if names else "it holds no studies"
        raise StorageError(
            f"no study named {name!r} in storage {mask(storage_url)}; {known}"
        ) from None
    return optuna.load_study(study_name=name, storage=storage)


def best_trial(study: optuna.Study) -> FrozenTrial:
    """The study's best trial; a study without a complete trial is a user error."""
    trials = study.get_trials(deepcopy=False)
    ranking = rank(trials, study.direction.name.lower())
    if not ranking:
        counts = Counter(t.state.name.lower() for t in trials)
        have = ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "no trials"
        raise StorageError(f"study {study.study_name} has no complete trial yet ({have})")
    return ranking[0]


def best_report(storage_url: str, name: str, top: int = 5) -> BestReport:
    """The best trial of a study and its top `top` trials (for `automl best`)."""
    return summarize(load_study(storage_url, name), top)


def summarize(study: optuna.Study, top: int = 5) -> BestReport:
    """The best trial and the top `top` of an open study."""
    best = best_trial(study)
    test = test_result(study)
    trials = study.get_trials(deepcopy=False)
    rows = [trial_row(t, test) for t in rank(trials, study.direction.name.lower())[:top]]
    return BestReport(
        study=study.study_name,
        direction=study.direction.name.lower(),
        metric=_metric(study.user_attrs),
        states=dict(Counter(t.state.name for t in trials)),
        best=trial_row(best, test),
        top=rows,
        searched=searched_names(study),
        test=test,
        mlflow_parent_run_id=study.user_attrs.get(PARENT_RUN_ATTR),
    )


def trial_row(t: FrozenTrial, test: dict[str, Any] | None = None) -> TrialRow:
    """A trial as a user reads it; `test` is the study's test result, shown on its trial."""
    duration = t.duration.total_seconds() if t.duration is not None else None
    test_accuracy = None
    if test is not None and test.get(TEST_TRIAL) == t.number:
        test_accuracy = test.get(TEST_ACCURACY)
    epochs = t.user_attrs.get(EPOCHS_ATTR)
    return TrialRow(
        number=t.number,
        state=t.state.name,
        value=t.value,
        hyperparameters=hyperparameters(t),
        seed=t.user_attrs.get(SEED_ATTR),
        epochs=int(epochs) if epochs is not None else (len(t.intermediate_values) or None),
        mlflow_run_id=t.user_attrs.get(RUN_ID_ATTR),
        model_artifact=t.user_attrs.get(MODEL_ATTR),
        duration_s=duration,
        test_accuracy=test_accuracy,
    )


def hyperparameters(t: FrozenTrial) -> dict[str, Any]:
    """The trial's resolved hyperparameters; Optuna's params for trials made elsewhere."""
    hp = t.user_attrs.get(HYPERPARAMETERS_ATTR)
    return dict(hp) if isinstance(hp, dict) else dict(t.params)


def searched_names(study: optuna.Study) -> list[str]:
    """Hyperparameters that vary in this study, by their own names (β, not 1 − β)."""
    names: dict[str, None] = {}
    for t in study.get_trials(deepcopy=False):
        for p in t.params:
            names[p.removeprefix(LOG1M_PREFIX)] = None
    return list(names)


def test_result(study: optuna.Study) -> dict[str, Any] | None:
    """The test-set score `automl run` recorded for the study's best trial, if any."""
    value = study.user_attrs.get(TEST_ATTR)
    if isinstance(value, str):
        value = json.loads(value)
    return dict(value) if isinstance(value, dict) else None


def _metric(user_attrs: dict[str, Any]) -> str | None:
    try:
        return str(json.loads(user_attrs[SPACE_ATTR])["metric"])
    except (KeyError, TypeError, ValueError):
        return None


def _last_activity(trials: list[FrozenTrial]) -> datetime | None:
    times = [d for t in trials for d in (t.datetime_start, t.datetime_complete) if d is not None]
    return max(times) if times else None
