"""A trial's MLflow run, written by `TrialTracker`: an Optuna callback fed by the objective.

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

import math
import shutil
import sys
import tempfile
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import optuna
from mlflow import MlflowClient
from mlflow.entities import Metric
from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository
from optuna.artifacts import FileSystemArtifactStore, upload_artifact
from optuna.trial import TrialState

from automl.keys import (
    MODEL_ATTR,
    NOTE_TAG,
    PARENT_RUN_TAG,
    RUN_ID_ATTR,
    RUN_URL_ATTR,
    STATE_TAG,
    STORAGE_TAG,
    STUDY_ID_TAG,
    STUDY_TAG,
    TRIAL_NUMBER_TAG,
)
from automl.ranking import top_k
from automl.tracking.artifacts import (
    CURVES_DIR,
    CURVES_FILE,
    MODEL_ARTIFACT,
    MODEL_DIR,
    MODEL_FILE,
    artifact_dir,
)
from automl.tracking.curves import plot_learning_curves, plotter
from automl.tracking.study_run import (
    STATUS,
    StudyRun,
    client_for,
    end_tags,
    mlflow_params,
    mlflow_tags,
)
from automl.train.model import KERAS_STATE
from automl.uris import dashboard_note, is_server, run_url, storage_label

if TYPE_CHECKING:
    import keras

    from automl.search.space import Hyperparameters
    from automl.spec.schema import StudySpec
    from automl.train.objective import Outcome


class TrialTracker:
    """Writes each trial's MLflow run; an Optuna callback, fed by the objective's outcomes.

    Its writes go through one thread, in order, while trials train: a trial's run is created
    as the trial starts and closed after it ends; for the best K, its model is saved
    meanwhile, none of it between one trial and the next (benchmarks/trial_artifacts.py times
    each part). A plotter process draws the curves, which the thread stores once drawn, so
    neither waits for the other. The worker waits for
    that thread only where Optuna needs a write before the trial ends (a user attribute, an
    artifact), before it scores the best model (`flush`) and before it exits (`close`).
    """

    def __init__(self, run: StudyRun, spec: StudySpec, storage_url: str, study_id: int) -> None:
        """`study_id`: the study's id in its storage, as optuna-dashboard's addresses use it."""
        self.run = run
        self.spec = spec
        self.storage = storage_label(storage_url)
        self.study_id = study_id
        self.client = client_for(run.tracking_uri)
        folder = artifact_dir(storage_url)
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
        self._plotter = plotter()
        self._placeholder = self._plotter.submit(
            plot_learning_curves,
            [],
            self._plots / CURVES_FILE,
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
        done = trial.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        values = {t.number: float(t.value) for t in done if t.value is not None}
        before = top_k(values, self.spec.keep_models, self.spec.direction)
        values[trial.number] = value
        after = top_k(values, self.spec.keep_models, self.spec.direction)
        if trial.number not in after:
            return None
        # Set while the trial runs, before the file exists: readers check that it does.
        trial.set_user_attr(MODEL_ATTR, MODEL_ARTIFACT)
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
                plot_learning_curves,
                outcome.history,
                folder / CURVES_FILE,
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
        tags = {
            PARENT_RUN_TAG: self.run.parent_run_id,
            STUDY_TAG: self.spec.name,
            STUDY_ID_TAG: str(self.study_id),
            TRIAL_NUMBER_TAG: str(trial.number),
            STATE_TAG: "RUNNING",
            STORAGE_TAG: self.storage,
            NOTE_TAG: dashboard_note(self.spec.name, self.storage, self.study_id, trial.number),
        }
        run = self.client.create_run(
            self.run.experiment_id, run_name=f"trial-{trial.number}", tags=tags
        )
        run_id = run.info.run_id
        trial.set_user_attr(RUN_ID_ATTR, run_id)
        if is_server(self.run.tracking_uri):
            url = run_url(self.run.tracking_uri, self.run.experiment_id, run_id)
            trial.set_user_attr(RUN_URL_ATTR, url)
        self.client.log_batch(run_id, params=mlflow_params(hp.as_dict()))
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
        try:
            with tempfile.TemporaryDirectory(prefix="automl-trial-") as tmp:
                path = Path(tmp) / MODEL_FILE
                with KERAS_STATE:
                    model.save(path)
                self.client.log_artifact(run_id, str(path), MODEL_DIR)
            for t in pushed_out:
                drop_model(self.client, self.run.tracking_uri, t)
        except Exception as exc:  # noqa: BLE001 - a trial that trained is not lost to its file
            _warn(number, "its model was not stored", exc)

    def _store_curves(self, run_id: str, number: int, drawn: Future[Path]) -> None:
        """The plot into the trial's MLflow run and over its placeholder."""
        try:
            png = drawn.result()
            self.client.log_artifact(run_id, str(png), CURVES_DIR)
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
        state = trial.state.name
        now = int(time.time() * 1000)
        metrics = []
        if outcome is not None:
            for epoch, logs in enumerate(outcome.history, start=1):
                metrics += [Metric(k, v, now, epoch) for k, v in logs.items() if math.isfinite(v)]
        if trial.value is not None and math.isfinite(trial.value):
            # At the epoch the value comes from: the best one, or the last.
            epoch = (outcome.best_epoch or 0) if outcome is not None else 0
            metrics.append(Metric("trial_value", float(trial.value), now, epoch))
        try:
            self.client.log_batch(run_id, metrics=metrics, tags=mlflow_tags(end_tags(trial, state)))
            self.client.set_terminated(run_id, status=STATUS.get(state, "FAILED"))
        except Exception as exc:  # noqa: BLE001 - the trial itself is settled in Optuna
            _warn(trial.number, "its MLflow run was not closed", exc)


def _warn(number: int, what: str, exc: Exception) -> None:
    print(f"warning: trial {number}: {what}: {type(exc).__name__}: {exc}", file=sys.stderr)


def drop_model(client: MlflowClient, tracking_uri: str, trial: optuna.trial.FrozenTrial) -> None:
    """Delete a trial's saved model from its run (its user attribute stays: readers check)."""
    run_id = trial.user_attrs.get(RUN_ID_ATTR)
    if MODEL_ATTR not in trial.user_attrs or run_id is None:
        return
    uri = client.get_run(run_id).info.artifact_uri
    get_artifact_repository(uri, tracking_uri=tracking_uri).delete_artifacts(MODEL_DIR)
