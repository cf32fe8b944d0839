"""MLflow: one parent run per study, one nested run per trial, written with MlflowClient.

The trial's run is created when the trial starts (so its id can go into the trial's user
attributes), and filled in one batch when Optuna has settled the trial's state: the
per-epoch curves and the tags are written after training, off the hot path.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from automl.errors import AutomlError

if TYPE_CHECKING:
    import optuna
    from mlflow import MlflowClient

    from automl.objective import Outcome
    from automl.space import Hyperparameters
    from automl.spec import StudySpec

RUN_ID_ATTR = "mlflow_run_id"
PARENT_RUN_ATTR = "mlflow_parent_run_id"
EXPERIMENT_ATTR = "mlflow_experiment_id"
# Optuna's final states as MLflow run statuses: a pruned trial was stopped on purpose.
STATUS = {"COMPLETE": "FINISHED", "PRUNED": "KILLED", "FAIL": "FAILED"}


def default_tracking_uri() -> str:
    """MLFLOW_TRACKING_URI, else MLflow's own default: a SQLite file in the current folder."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{Path.cwd() / 'mlflow.db'}"


def client_for(uri: str) -> MlflowClient:
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=uri)


@dataclass(frozen=True)
class StudyRun:
    """Where a study's runs go: the experiment and the parent run."""

    tracking_uri: str
    experiment_id: str
    parent_run_id: str


def start_study_run(
    spec: StudySpec, study: optuna.Study, tracking_uri: str, storage_url: str
) -> StudyRun:
    """Find or create the study's experiment and parent run; remember both in the study."""
    client = client_for(tracking_uri)
    try:
        experiment = client.get_experiment_by_name(spec.name)
        if experiment is None:
            experiment_id = _create_experiment(client, spec.name)
        else:
            experiment_id = experiment.experiment_id
            if experiment.lifecycle_stage == "deleted":
                client.restore_experiment(experiment_id)
    except AutomlError:
        raise
    except Exception as exc:  # noqa: BLE001 - any MLflow failure here is the URI's fault
        raise AutomlError(f"MLflow tracking URI {tracking_uri}: cannot use it: {exc}") from None
    parent = study.user_attrs.get(PARENT_RUN_ATTR)
    if parent is None or not _run_exists(client, parent):
        run = client.create_run(
            experiment_id,
            run_name=spec.name,
            tags={
                "automl.study": spec.name,
                "automl.role": "study",
                "automl.storage": storage_url,
                "automl.sampler": spec.sampler.name,
                "automl.pruner": spec.pruner.name,
                "automl.dataset": spec.dataset.name,
            },
        )
        parent = run.info.run_id
        client.log_batch(
            parent,
            params=_params(
                {
                    "metric": spec.metric,
                    "direction": spec.direction,
                    "epochs": spec.epochs,
                    "sampler": spec.sampler.name,
                    "pruner": spec.pruner.name,
                    "dataset": spec.dataset.name,
                    "trials": spec.trials,
                }
            ),
        )
        study.set_user_attr(PARENT_RUN_ATTR, parent)
        study.set_user_attr(EXPERIMENT_ATTR, experiment_id)
    else:
        client.update_run(parent, status="RUNNING")
    return StudyRun(tracking_uri, experiment_id, str(parent))


def _create_experiment(client: MlflowClient, name: str) -> str:
    from mlflow.exceptions import MlflowException

    try:
        return str(client.create_experiment(name))
    except MlflowException:
        # Another worker created it between our lookup and our create.
        experiment = client.get_experiment_by_name(name)
        if experiment is None:
            raise
        return str(experiment.experiment_id)


def _run_exists(client: MlflowClient, run_id: str) -> bool:
    from mlflow.exceptions import MlflowException

    try:
        client.get_run(run_id)
    except MlflowException:
        return False
    return True


def finish_study_run(run: StudyRun, study: optuna.Study) -> None:
    """Close the parent run with the best trial's value and parameters."""
    from mlflow.entities import Metric

    client = client_for(run.tracking_uri)
    now = int(time.time() * 1000)
    try:
        best = study.best_trial
    except ValueError:
        best = None
    if best is not None:
        hp = best.user_attrs.get("hyperparameters", best.params)
        client.log_batch(
            run.parent_run_id,
            metrics=[Metric("best_value", float(best.value or 0.0), now, 0)],
            params=_params({f"best.{k}": v for k, v in hp.items()}, existing=_logged(client, run)),
            tags=_tags({"automl.best_trial": best.number}),
        )
    client.set_terminated(run.parent_run_id, status="FINISHED")


def _logged(client: MlflowClient, run: StudyRun) -> set[str]:
    return set(client.get_run(run.parent_run_id).data.params)


def _params(values: dict[str, Any], existing: set[str] | None = None) -> list[Any]:
    from mlflow.entities import Param

    # MLflow params are write-once: a resumed study keeps the first values it logged.
    return [Param(k, str(v)) for k, v in values.items() if not existing or k not in existing]


def _tags(values: dict[str, Any]) -> list[Any]:
    from mlflow.entities import RunTag

    return [RunTag(k, str(v)) for k, v in values.items()]


class TrialTracker:
    """Writes each trial's MLflow run; an Optuna callback, fed by the objective's outcomes."""

    def __init__(self, run: StudyRun, spec: StudySpec, storage_url: str) -> None:
        self.run = run
        self.spec = spec
        self.storage_url = storage_url
        self.client = client_for(run.tracking_uri)
        self._outcomes: dict[int, Outcome] = {}
        self._run_ids: dict[int, str] = {}

    def trial_started(self, trial: optuna.Trial, hp: Hyperparameters) -> None:
        tags = {
            "mlflow.parentRunId": self.run.parent_run_id,
            "automl.study": self.spec.name,
            "automl.trial_number": str(trial.number),
            "automl.state": "RUNNING",
            "automl.storage": self.storage_url,
        }
        run = self.client.create_run(
            self.run.experiment_id, run_name=f"trial-{trial.number}", tags=tags
        )
        run_id = run.info.run_id
        self._run_ids[trial.number] = run_id
        trial.set_user_attr(RUN_ID_ATTR, run_id)
        self.client.log_batch(run_id, params=_params(hp.as_dict()))

    def collect(self, outcome: Outcome) -> None:
        self._outcomes[outcome.number] = outcome

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        from mlflow.entities import Metric

        run_id = self._run_ids.pop(trial.number, None)
        outcome = self._outcomes.pop(trial.number, None)
        if run_id is None:
            return
        state = trial.state.name
        now = int(time.time() * 1000)
        metrics = []
        if outcome is not None:
            for epoch, logs in enumerate(outcome.history, start=1):
                metrics += [Metric(k, v, now, epoch) for k, v in logs.items() if _finite(v)]
        if trial.value is not None and _finite(trial.value):
            epochs = len(outcome.history) if outcome is not None else 0
            metrics.append(Metric("trial_value", float(trial.value), now, epochs))
        tags = {"automl.state": state, "optuna.state": state}
        reason = trial.user_attrs.get("fail_reason")
        if reason:
            tags["automl.fail_reason"] = str(reason)[:5000]
        self.client.log_batch(run_id, metrics=metrics, tags=_tags(tags))
        self.client.set_terminated(run_id, status=STATUS.get(state, "FAILED"))


def close_dead_trial_run(run: StudyRun, trial: optuna.trial.FrozenTrial) -> None:
    """A trial whose worker died left its MLflow run RUNNING: end it FAILED, with the reason."""
    run_id = trial.user_attrs.get(RUN_ID_ATTR)
    if not run_id:
        return
    client = client_for(run.tracking_uri)
    tags = {"automl.state": "FAIL", "optuna.state": "FAIL"}
    reason = trial.user_attrs.get("fail_reason")
    if reason:
        tags["automl.fail_reason"] = str(reason)[:5000]
    client.log_batch(run_id, tags=_tags(tags))
    client.set_terminated(run_id, status="FAILED")


def _finite(value: float) -> bool:
    return value == value and value not in (float("inf"), float("-inf"))
