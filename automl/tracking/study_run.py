"""MLflow: one parent run per study, one nested run per trial, written with MlflowClient.

The trial's run is created when the trial starts (so its id can go into the trial's user
attributes), and filled in one batch when Optuna has settled the trial's state: the
per-epoch curves and the tags are written after training, off the hot path. Between the two,
while the trial is still RUNNING (Optuna refuses attributes and artifacts on finished trials),
its learning-curve artifact and, for the best K, its model's attribute are set; the plot and
the model file themselves are written by the writer thread while the next trial trains.

Links go both ways: a trial carries its run's id (and URL, when MLflow is a server), a run
carries the study, trial number, state and storage, and a note with the dashboard's address.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from automl.errors import AutomlError
from automl.keys import (
    EXPERIMENT_ATTR,
    EXPERIMENT_KIND,
    EXPERIMENT_KIND_TAG,
    EXPERIMENT_URL_ATTR,
    NOTE_TAG,
    PARENT_RUN_ATTR,
)
from automl.uris import dashboard_note, experiment_url, is_server, storage_label

if TYPE_CHECKING:
    import optuna
    from mlflow import MlflowClient

    from automl.spec.schema import StudySpec
# Optuna's final states as MLflow run statuses: a pruned trial was stopped on purpose.
STATUS = {"COMPLETE": "FINISHED", "PRUNED": "KILLED", "FAIL": "FAILED"}


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
        if experiment is None or EXPERIMENT_KIND_TAG not in experiment.tags:
            client.set_experiment_tag(experiment_id, EXPERIMENT_KIND_TAG, EXPERIMENT_KIND)
    except AutomlError:
        raise
    except Exception as exc:  # noqa: BLE001 - any MLflow failure here is the URI's fault
        raise AutomlError(f"MLflow tracking URI {tracking_uri}: cannot use it: {exc}") from None
    parent = study.user_attrs.get(PARENT_RUN_ATTR)
    if parent is None or not _run_exists(client, parent):
        storage = storage_label(storage_url)
        # Optuna has no public accessor for the id that optuna-dashboard's addresses use.
        run = client.create_run(
            experiment_id,
            run_name=spec.name,
            tags={
                "automl.study": spec.name,
                "automl.role": "study",
                "automl.storage": storage,
                "automl.study_id": str(study._study_id),
                NOTE_TAG: dashboard_note(spec.name, storage, study._study_id),
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
        if is_server(tracking_uri):
            study.set_user_attr(EXPERIMENT_URL_ATTR, experiment_url(tracking_uri, experiment_id))
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
