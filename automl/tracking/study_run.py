"""MLflow's side of a study: its experiment and parent run (found or created, announced to the
workers, closed with the best trial), and the helpers every run of the study is written with.

A parent run carries the study, its storage and a note with the dashboard's address; the
study carries the parent run's and the experiment's ids (and URL, when MLflow is a server).
This module imports MLflow but never TensorFlow: the supervisor uses it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import optuna
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag
from mlflow.exceptions import MlflowException

from automl.errors import AutomlError
from automl.keys import (
    BEST_TRIAL_TAG,
    DATASET_TAG,
    EXPERIMENT_ATTR,
    EXPERIMENT_KIND,
    EXPERIMENT_KIND_TAG,
    EXPERIMENT_URL_ATTR,
    FAIL_REASON_ATTR,
    FAIL_REASON_TAG,
    HYPERPARAMETERS_ATTR,
    NOTE_TAG,
    OPTUNA_STATE_TAG,
    PARENT_RUN_ATTR,
    PRUNER_TAG,
    RAY_NODE_KEY,
    RAY_NODE_TAG,
    ROLE_TAG,
    RUN_ID_ATTR,
    SAMPLER_TAG,
    STATE_TAG,
    STORAGE_TAG,
    STUDY_ID_TAG,
    STUDY_TAG,
    TRACKING_ATTR,
    WORKER_ATTR,
)
from automl.spec.schema import StudySpec
from automl.uris import (
    dashboard_note,
    experiment_url,
    is_server,
    mask,
    redact,
    storage_label,
    store_key,
)

# Optuna's final states as MLflow run statuses: a pruned trial was stopped on purpose.
STATUS = {"COMPLETE": "FINISHED", "PRUNED": "KILLED", "FAIL": "FAILED"}


# MLflow keeps a tag value up to this many characters.
TAG_VALUE_LIMIT = 5000


def client_for(uri: str) -> MlflowClient:
    return MlflowClient(tracking_uri=uri)


@dataclass(frozen=True)
class StudyRun:
    """Where a study's runs go: the experiment and the parent run."""

    tracking_uri: str
    experiment_id: str
    parent_run_id: str


def announcement(run: StudyRun) -> dict[str, str]:
    """What the supervisor writes into the study (`TRACKING_ATTR`) once MLflow is set up."""
    return {
        "store": store_key(run.tracking_uri),
        "experiment_id": run.experiment_id,
        "parent_run_id": run.parent_run_id,
    }


def announced_run(study: optuna.Study, tracking_uri: str) -> StudyRun | None:
    """The study's run in this tracking store, once a supervisor has announced it."""
    ready = study.user_attrs.get(TRACKING_ATTR) or {}
    if ready.get("store") != store_key(tracking_uri):
        return None
    return StudyRun(tracking_uri, ready["experiment_id"], ready["parent_run_id"])


def start_study_run(
    spec: StudySpec, study: optuna.Study, tracking_uri: str, storage_url: str, study_id: int
) -> StudyRun:
    """Find or create the study's experiment and parent run; remember both in the study.

    `study_id` is the study's id in its storage, as optuna-dashboard's addresses use it."""
    client = client_for(tracking_uri)
    experiment_id = _experiment(client, spec.name, tracking_uri)
    parent = study.user_attrs.get(PARENT_RUN_ATTR)
    if parent is None or not _run_exists(client, parent):
        parent = _create_parent_run(client, experiment_id, spec, storage_url, study_id)
        study.set_user_attr(PARENT_RUN_ATTR, parent)
        study.set_user_attr(EXPERIMENT_ATTR, experiment_id)
        if is_server(tracking_uri):
            study.set_user_attr(EXPERIMENT_URL_ATTR, experiment_url(tracking_uri, experiment_id))
    else:
        client.update_run(parent, status="RUNNING")
    return StudyRun(tracking_uri, experiment_id, str(parent))


def _experiment(client: MlflowClient, name: str, tracking_uri: str) -> str:
    """The id of the study's experiment, created (or restored) and tagged as model training."""
    try:
        experiment = client.get_experiment_by_name(name)
        if experiment is None:
            experiment_id = _create_experiment(client, name)
        else:
            experiment_id = experiment.experiment_id
            if experiment.lifecycle_stage == "deleted":
                client.restore_experiment(experiment_id)
        if experiment is None or EXPERIMENT_KIND_TAG not in experiment.tags:
            client.set_experiment_tag(experiment_id, EXPERIMENT_KIND_TAG, EXPERIMENT_KIND)
    except AutomlError:
        raise
    except Exception as exc:  # noqa: BLE001 - any MLflow failure here is the URI's fault
        raise AutomlError(
            f"MLflow tracking URI {mask(tracking_uri)}: cannot use it: "
            f"{redact(str(exc), tracking_uri)}"
        ) from None
    return str(experiment_id)


def _create_parent_run(
    client: MlflowClient, experiment_id: str, spec: StudySpec, storage_url: str, study_id: int
) -> str:
    """A new parent run for the study, tagged and with the study file's main settings."""
    storage = storage_label(storage_url)
    run = client.create_run(
        experiment_id,
        run_name=spec.name,
        tags={
            STUDY_TAG: spec.name,
            ROLE_TAG: "study",
            STORAGE_TAG: storage,
            STUDY_ID_TAG: str(study_id),
            NOTE_TAG: dashboard_note(spec.name, storage, study_id),
            SAMPLER_TAG: spec.sampler.name,
            PRUNER_TAG: spec.pruner.name,
            DATASET_TAG: spec.dataset.name,
        },
    )
    settings = {
        "metric": spec.metric,
        "direction": spec.direction,
        "epochs": spec.epochs,
        "sampler": spec.sampler.name,
        "pruner": spec.pruner.name,
        "dataset": spec.dataset.name,
        "trials": spec.trials,
    }
    client.log_batch(run.info.run_id, params=mlflow_params(settings))
    return str(run.info.run_id)


def _create_experiment(client: MlflowClient, name: str) -> str:
    try:
        return str(client.create_experiment(name))
    except MlflowException:
        # Another worker created it between our lookup and our create.
        experiment = client.get_experiment_by_name(name)
        if experiment is None:
            raise
        return str(experiment.experiment_id)


def _run_exists(client: MlflowClient, run_id: str) -> bool:
    try:
        client.get_run(run_id)
    except MlflowException:
        return False
    return True


def finish_study_run(run: StudyRun, study: optuna.Study) -> None:
    """Close the parent run with the best trial's value and parameters."""
    client = client_for(run.tracking_uri)
    now = int(time.time() * 1000)
    try:
        best = study.best_trial
    except ValueError:
        best = None
    if best is not None:
        hp = best.user_attrs.get(HYPERPARAMETERS_ATTR, best.params)
        client.log_batch(
            run.parent_run_id,
            metrics=[Metric("best_value", float(best.value or 0.0), now, 0)],
            params=mlflow_params(
                {f"best.{k}": v for k, v in hp.items()}, existing=_logged(client, run)
            ),
            tags=mlflow_tags({BEST_TRIAL_TAG: best.number}),
        )
    client.set_terminated(run.parent_run_id, status="FINISHED")


def _logged(client: MlflowClient, run: StudyRun) -> set[str]:
    return set(client.get_run(run.parent_run_id).data.params)


def mlflow_params(values: dict[str, Any], existing: set[str] | None = None) -> list[Param]:
    """MLflow params are write-once: a resumed study keeps the first values it logged."""
    return [Param(k, str(v)) for k, v in values.items() if not existing or k not in existing]


def mlflow_tags(values: dict[str, Any]) -> list[RunTag]:
    return [RunTag(k, str(v)) for k, v in values.items()]


def end_tags(trial: optuna.trial.FrozenTrial, state: str) -> dict[str, str]:
    """The tags a trial's run ends with: its state, why it failed if it did, and the Ray node
    it ran on under `automl run --ray`."""
    tags = {STATE_TAG: state, OPTUNA_STATE_TAG: state}
    reason = trial.user_attrs.get(FAIL_REASON_ATTR)
    if reason:
        tags[FAIL_REASON_TAG] = str(reason)[:TAG_VALUE_LIMIT]
    worker = trial.user_attrs.get(WORKER_ATTR)
    if isinstance(worker, dict) and worker.get(RAY_NODE_KEY):
        tags[RAY_NODE_TAG] = str(worker[RAY_NODE_KEY])
    return tags


def close_dead_trial_run(run: StudyRun, trial: optuna.trial.FrozenTrial) -> None:
    """A trial whose worker died left its MLflow run RUNNING: end it FAILED, with the reason."""
    run_id = trial.user_attrs.get(RUN_ID_ATTR)
    if not run_id:
        return
    client = client_for(run.tracking_uri)
    client.log_batch(run_id, tags=mlflow_tags(end_tags(trial, "FAIL")))
    client.set_terminated(run_id, status=STATUS["FAIL"])
