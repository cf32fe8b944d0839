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

import hashlib
import os
import re
import shutil
import sys
import tempfile
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from automl import artifacts
from automl.errors import AutomlError
from automl.storage import is_url

if TYPE_CHECKING:
    import keras
    import optuna
    from mlflow import MlflowClient

    from automl.objective import Outcome
    from automl.space import Hyperparameters
    from automl.spec import StudySpec

RUN_ID_ATTR = "mlflow_run_id"
RUN_URL_ATTR = "mlflow_run_url"
PARENT_RUN_ATTR = "mlflow_parent_run_id"
EXPERIMENT_ATTR = "mlflow_experiment_id"
# Study user attribute: the tracking URI, experiment and parent run an `automl run` set up.
TRACKING_ATTR = "automl.tracking"
EXPERIMENT_URL_ATTR = "mlflow_experiment_url"
NOTE_TAG = "mlflow.note.content"  # shown as the run's description in the MLflow UI
# MLflow 3 tells model-training experiments from GenAI ones by this tag.
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
EXPERIMENT_KIND = "custom_model_development"
# Optuna's final states as MLflow run statuses: a pruned trial was stopped on purpose.
STATUS = {"COMPLETE": "FINISHED", "PRUNED": "KILLED", "FAIL": "FAILED"}


def store_key(tracking_uri: str) -> str:
    """Names a tracking store in the study without its URI (which may hold a password)."""
    return hashlib.sha256(tracking_uri.encode()).hexdigest()[:16]


def missing_sqlite_store(tracking_uri: str) -> bool:
    """A sqlite:/// tracking URI whose file does not exist: opening it would create an empty
    store in the user's folder, so readers stop instead."""
    from automl.storage import local_file

    path = local_file(tracking_uri) if tracking_uri.startswith("sqlite:///") else None
    return path is not None and not path.is_file()


def default_tracking_uri() -> str:
    """MLFLOW_TRACKING_URI, else MLflow's own default: a SQLite file in the current folder."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{Path.cwd() / 'mlflow.db'}"


def is_server(uri: str) -> bool:
    """Whether the tracking URI is an MLflow server, whose pages a browser can open."""
    return uri.startswith(("http://", "https://"))


# MLflow 3's UI opens in its GenAI mode unless the address asks for model training.
UI_MODE = "workflowType=machine_learning"


def experiment_url(uri: str, experiment_id: str) -> str:
    return f"{uri.rstrip('/')}/#/experiments/{experiment_id}/runs?{UI_MODE}"


def run_url(uri: str, experiment_id: str, run_id: str) -> str:
    return f"{uri.rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}?{UI_MODE}"


def storage_label(storage: str) -> str:
    """The storage as runs record it: a journal file's absolute path, a URL without password."""
    if not is_url(storage):
        return str(Path(storage).resolve())
    return re.sub(r"(://[^:/@]*:)[^@/]*@", r"\1***@", storage)


def dashboard_url(study_id: int, trial_number: int | None = None) -> str:
    """The study's (or trial's) page in optuna-dashboard as `automl dashboard` serves it."""
    from automl.ui import DASHBOARD_PORT, LOOPBACK

    url = f"http://{LOOPBACK}:{DASHBOARD_PORT}/dashboard/studies/{study_id}"
    return url if trial_number is None else f"{url}/trials?numbers={trial_number}"


def dashboard_note(study: str, storage: str, study_id: int, trial: int | None = None) -> str:
    what = f"Trial {trial} of Optuna study" if trial is not None else "Optuna study"
    return (
        f"{what} **{study}**, storage `{storage}`.\n\n"
        f"In optuna-dashboard (`automl dashboard --storage {storage}`): "
        f"{dashboard_url(study_id, trial)}"
    )


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


class TrialTracker:
    """Writes each trial's MLflow run; an Optuna callback, fed by the objective's outcomes.

    Its writes go through one thread, in order, while trials train: a trial's run is created
    as the trial starts and closed after it ends; for the best K, its model is saved (~0.1 s)
    meanwhile, none of it between one trial and the next. A plotter process draws the curves,
    which the thread stores once drawn, so neither waits for the other. The worker waits for
    that thread only where Optuna needs a write before the trial ends (a user attribute, an
    artifact), before it scores the best model (`flush`) and before it exits (`close`).
    """

    def __init__(self, run: StudyRun, spec: StudySpec, storage_url: str) -> None:
        from optuna.artifacts import FileSystemArtifactStore

        self.run = run
        self.spec = spec
        self.storage = storage_label(storage_url)
        self.client = client_for(run.tracking_uri)
        folder = artifacts.artifact_dir(storage_url)
        folder.mkdir(parents=True, exist_ok=True)
        self.artifact_store = FileSystemArtifactStore(folder)
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="automl-mlflow")
        self._runs: dict[int, Future[str]] = {}  # trial number -> its run id, once created
        self._trials: dict[int, optuna.Trial] = {}
        self._outcomes: dict[int, Outcome] = {}
        # Optuna attaches an artifact to a trial only while it runs: each trial's curves start
        # as a placeholder image, overwritten once drawn.
        self._curve_ids: dict[int, str] = {}
        self._plots = Path(tempfile.mkdtemp(prefix="automl-curves-"))
        self._plotter = artifacts.plotter()
        self._placeholder = self._plotter.submit(
            artifacts.plot_learning_curves,
            [],
            self._plots / artifacts.CURVES_FILE,
            "the curves follow when it ends",
        )

    def trial_started(self, trial: optuna.Trial, hp: Hyperparameters) -> None:
        self._trials[trial.number] = trial
        self._runs[trial.number] = self._writer.submit(self._start_run, trial, hp)

    def collect(self, outcome: Outcome) -> None:
        """Keep the outcome for the run; while the trial still runs, mark it as keeping its
        model if it is among the K best, and hand the model file and its curves to the writer."""
        self._outcomes[outcome.number] = outcome
        trial = self._trials.pop(outcome.number, None)
        started = self._runs.get(outcome.number)
        if trial is None or started is None:
            return
        run_id = started.result()  # its attributes are written before the trial ends
        if outcome.model is not None and outcome.value is not None:
            try:
                pushed_out = self._enter_top(trial, outcome.value)
            except Exception as exc:  # noqa: BLE001 - a trial that trained is not lost to its file
                _warn(outcome.number, "its model was not stored", exc)
            else:
                if pushed_out is not None:
                    self._writer.submit(
                        self._save_model, run_id, outcome.number, outcome.model, pushed_out
                    )
        self._plot(run_id, outcome)

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        started = self._runs.pop(trial.number, None)
        outcome = self._outcomes.pop(trial.number, None)
        if started is not None:
            self._writer.submit(self._finish_run, started.result(), trial, outcome)

    def close(self) -> None:
        """Wait for the writes still queued; a worker calls this before it exits."""
        self._plotter.shutdown(wait=True)  # first: each plot drawn queues its storing
        self._writer.shutdown(wait=True)
        shutil.rmtree(self._plots, ignore_errors=True)

    def flush(self) -> None:
        """Wait for the writes queued so far (the models a study's end reads back)."""
        self._writer.submit(lambda: None).result()

    def _enter_top(
        self, trial: optuna.Trial, value: float
    ) -> list[optuna.trial.FrozenTrial] | None:
        """If the trial is among the K best so far, mark it as having a model and return the
        trials it pushes out of the K; None if it is not."""
        import optuna

        done = trial.study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
        values = {t.number: float(t.value) for t in done if t.value is not None}
        before = artifacts.top_k(values, self.spec.keep_models, self.spec.direction)
        values[trial.number] = value
        after = artifacts.top_k(values, self.spec.keep_models, self.spec.direction)
        if trial.number not in after:
            return None
        # Set while the trial runs, before the file exists: readers check that it does.
        trial.set_user_attr(artifacts.MODEL_ATTR, artifacts.MODEL_ARTIFACT)
        return [t for t in done if t.number in before - after]

    def _plot(self, run_id: str, outcome: Outcome) -> None:
        """The plotter draws the trial's curves; once drawn, the writer stores them."""
        title = f"{self.spec.name} trial {outcome.number}"
        if not outcome.history:
            title += ": no epoch finished"  # it failed before (the model did not build)
        folder = self._plots / str(outcome.number)
        folder.mkdir()
        try:
            drawn = self._plotter.submit(
                artifacts.plot_learning_curves,
                outcome.history,
                folder / artifacts.CURVES_FILE,
                title,
            )
        except Exception as exc:  # noqa: BLE001 - the plotter died (say, killed): the trial goes on
            _warn(outcome.number, "its curves were not stored", exc)
            return
        drawn.add_done_callback(
            lambda d: self._writer.submit(self._store_curves, run_id, outcome.number, d)
        )

    # --- on the writer thread

    def _start_run(self, trial: optuna.Trial, hp: Hyperparameters) -> str:
        from optuna.artifacts import upload_artifact

        study_id = trial.study._study_id  # as in start_study_run
        tags = {
            "mlflow.parentRunId": self.run.parent_run_id,
            "automl.study": self.spec.name,
            "automl.study_id": str(study_id),
            "automl.trial_number": str(trial.number),
            "automl.state": "RUNNING",
            "automl.storage": self.storage,
            NOTE_TAG: dashboard_note(self.spec.name, self.storage, study_id, trial.number),
        }
        run = self.client.create_run(
            self.run.experiment_id, run_name=f"trial-{trial.number}", tags=tags
        )
        run_id = run.info.run_id
        trial.set_user_attr(RUN_ID_ATTR, run_id)
        if is_server(self.run.tracking_uri):
            url = run_url(self.run.tracking_uri, self.run.experiment_id, run_id)
            trial.set_user_attr(RUN_URL_ATTR, url)
        self.client.log_batch(run_id, params=_params(hp.as_dict()))
        self._curve_ids[trial.number] = upload_artifact(
            artifact_store=self.artifact_store,
            file_path=str(self._placeholder.result()),
            study_or_trial=trial,
            mimetype="image/png",
        )
        return run_id

    def _save_model(
        self,
        run_id: str,
        number: int,
        model: keras.Model,
        pushed_out: list[optuna.trial.FrozenTrial],
    ) -> None:
        """The model file into the trial's run; the models it pushed out of the K deleted."""
        from automl.model import KERAS_STATE

        try:
            with tempfile.TemporaryDirectory(prefix="automl-trial-") as tmp:
                path = Path(tmp) / artifacts.MODEL_FILE
                with KERAS_STATE:
                    model.save(path)
                self.client.log_artifact(run_id, str(path), artifacts.MODEL_DIR)
            for t in pushed_out:
                drop_model(self.client, self.run.tracking_uri, t)
        except Exception as exc:  # noqa: BLE001 - a trial that trained is not lost to its file
            _warn(number, "its model was not stored", exc)

    def _store_curves(self, run_id: str, number: int, drawn: Future[Path]) -> None:
        """The plot into the trial's MLflow run and over its placeholder."""
        try:
            png = drawn.result()
            self.client.log_artifact(run_id, str(png), artifacts.CURVES_DIR)
            artifact_id = self._curve_ids.pop(number, None)
            if artifact_id is not None:
                with png.open("rb") as image:
                    self.artifact_store.write(artifact_id, image)
        except Exception as exc:  # noqa: BLE001 - the trial's numbers are stored anyway
            _warn(number, "its curves were not stored", exc)
        finally:
            shutil.rmtree(self._plots / str(number), ignore_errors=True)

    def _finish_run(
        self, run_id: str, trial: optuna.trial.FrozenTrial, outcome: Outcome | None
    ) -> None:
        """Per-epoch metrics, the trial's value and state; the run ends as the trial did."""
        from mlflow.entities import Metric

        state = trial.state.name
        now = int(time.time() * 1000)
        metrics = []
        if outcome is not None:
            for epoch, logs in enumerate(outcome.history, start=1):
                metrics += [Metric(k, v, now, epoch) for k, v in logs.items() if _finite(v)]
        if trial.value is not None and _finite(trial.value):
            # At the epoch the value comes from: the best one, or the last.
            epoch = (outcome.best_epoch or 0) if outcome is not None else 0
            metrics.append(Metric("trial_value", float(trial.value), now, epoch))
        tags = {"automl.state": state, "optuna.state": state}
        reason = trial.user_attrs.get("fail_reason")
        if reason:
            tags["automl.fail_reason"] = str(reason)[:5000]
        try:
            self.client.log_batch(run_id, metrics=metrics, tags=_tags(tags))
            self.client.set_terminated(run_id, status=STATUS.get(state, "FAILED"))
        except Exception as exc:  # noqa: BLE001 - the trial itself is settled in Optuna
            _warn(trial.number, "its MLflow run was not closed", exc)


def _warn(number: int, what: str, exc: Exception) -> None:
    print(f"warning: trial {number}: {what}: {type(exc).__name__}: {exc}", file=sys.stderr)


def drop_model(client: MlflowClient, tracking_uri: str, trial: optuna.trial.FrozenTrial) -> None:
    """Delete a trial's saved model from its run (its user attribute stays: readers check)."""
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

    run_id = trial.user_attrs.get(RUN_ID_ATTR)
    if artifacts.MODEL_ATTR not in trial.user_attrs or run_id is None:
        return
    uri = client.get_run(run_id).info.artifact_uri
    get_artifact_repository(uri, tracking_uri=tracking_uri).delete_artifacts(artifacts.MODEL_DIR)


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
