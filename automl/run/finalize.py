"""The end of a study: score the best model on the test split, log it to MLflow, register it.

The last worker to finish runs it, with the data loaded; otherwise the supervisor starts it in
a child (`finalize_main`, by name: the supervisor never imports TensorFlow). The best trial's
model comes from its MLflow run (`model/model.keras`, kept for the top K); if that file is
missing nothing is registered, and a note says so.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import keras
import mlflow
import mlflow.keras
import optuna
from mlflow import MlflowClient
from mlflow.entities import Metric
from mlflow.models import infer_signature
from mlflow.utils.autologging_utils.logging_and_warnings import (
    MlflowEventsAndWarningsBehaviorGlobally,
)

from automl.backend import load_keras
from automl.data.dataset import Dataset, load_dataset
from automl.errors import AutomlError
from automl.keys import (
    FINALIZED_ATTR,
    MODEL_ATTR,
    REGISTERED_TRIAL_TAG,
    REGISTERED_VERSION_TAG,
    RUN_ID_ATTR,
    TEST_ACCURACY,
    TEST_ATTR,
    TEST_LOSS,
    TEST_TRIAL,
)
from automl.ranking import top_k
from automl.run.storage import open_storage
from automl.run.worker_args import INTERRUPTED, USER_ERROR
from automl.spec.schema import StudySpec
from automl.tracking.artifacts import MODEL_DIR
from automl.tracking.study_run import StudyRun, client_for
from automl.tracking.trial_tracker import drop_model

# Enough rows to infer the input signature's shape and dtype.
SIGNATURE_ROWS = 4
# A model file is written by its worker's writer thread after the trial ends: another worker
# may still be writing the best one when the study's last trial finishes elsewhere.
MODEL_WAIT_SECONDS = 30.0


def finalize_study(
    spec: StudySpec, storage: str, study_run: StudyRun, data: Dataset | None = None
) -> None:
    """Score, log and register the best trial's model; `data` defaults to the study's data set."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # one small file
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name=spec.name, storage=open_storage(storage, must_exist=True))
    best = study.best_trial
    client = client_for(study_run.tracking_uri)
    drop_models_outside_top_k(study, client, spec, study_run.tracking_uri)
    with tempfile.TemporaryDirectory(prefix="automl-final-") as tmp:
        model = load_trial_model(client, best, Path(tmp))
    if model is None:
        print(
            f"note: best trial {best.number} has no saved model in MLflow; "
            f"nothing registered as {spec.name}"
        )
        study.set_user_attr(FINALIZED_ATTR, best.number)  # nothing a rerun could add
        return
    if data is None:
        data = load_dataset(spec.dataset, spec.seed or 0)
    _score_once(study, best, client, study_run, model, data)
    _register_once(client, study_run, best, model, data, spec.name)
    study.set_user_attr(FINALIZED_ATTR, best.number)


def _score_once(
    study: optuna.Study,
    best: optuna.trial.FrozenTrial,
    client: MlflowClient,
    study_run: StudyRun,
    model: keras.Model,
    data: Dataset,
) -> None:
    """The best model's test scores, into the study and both runs, unless they are there."""
    if study.user_attrs.get(TEST_ATTR, {}).get(TEST_TRIAL) == best.number:
        return
    scores = score(model, data)
    if scores is None:
        return
    study.set_user_attr(TEST_ATTR, {TEST_TRIAL: best.number, **scores})
    run_id = best.user_attrs.get(RUN_ID_ATTR)
    _log_scores(client, [r for r in (run_id, study_run.parent_run_id) if r], scores)
    print(
        f"best trial {best.number} on the test split: accuracy "
        f"{scores[TEST_ACCURACY]:.4f}, loss {scores['test_loss']:.4f}"
    )


def _register_once(
    client: MlflowClient,
    study_run: StudyRun,
    best: optuna.trial.FrozenTrial,
    model: keras.Model,
    data: Dataset,
    name: str,
) -> None:
    """The best model registered as `name`, unless the parent run says it already is."""
    parent = client.get_run(study_run.parent_run_id)
    if parent.data.tags.get(REGISTERED_TRIAL_TAG) == str(best.number):
        return
    version = register(model, data, name, study_run)
    client.set_tag(study_run.parent_run_id, REGISTERED_TRIAL_TAG, str(best.number))
    client.set_tag(study_run.parent_run_id, REGISTERED_VERSION_TAG, version)
    print(f"registered the model of trial {best.number} as {name}, version {version}")


def drop_models_outside_top_k(
    study: optuna.Study, client: MlflowClient, spec: StudySpec, tracking_uri: str
) -> None:
    """Workers racing each other may keep a model or two too many; settle it at the end."""
    done = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    values = {t.number: float(t.value) for t in done if t.value is not None}
    keep = top_k(values, spec.keep_models, spec.direction)
    for t in done:
        if t.number not in keep:
            drop_model(client, tracking_uri, t)


def load_trial_model(
    client: MlflowClient, trial: optuna.trial.FrozenTrial, folder: Path
) -> keras.Model | None:
    """The trial's saved model from its MLflow run, or None where it has none (any more)."""
    run_id = trial.user_attrs.get(RUN_ID_ATTR)
    name = trial.user_attrs.get(MODEL_ATTR)
    if run_id is None or name is None:
        return None
    if not _model_written(client, run_id, name, trial.number):
        return None  # saving it failed, or it fell out of the top K
    return keras.models.load_model(client.download_artifacts(run_id, name, str(folder)))


def _model_written(client: MlflowClient, run_id: str, name: str, number: int) -> bool:
    """Whether the model file is in the run, waiting a while for a writer that is behind."""
    end = time.monotonic() + MODEL_WAIT_SECONDS
    waiting = False
    while name not in {f.path for f in client.list_artifacts(run_id, MODEL_DIR)}:
        if time.monotonic() > end:
            return False
        if not waiting:
            print(f"waiting for the model of trial {number}: its worker is still writing it")
            waiting = True
        time.sleep(0.5)
    return True


def score(model: keras.Model, data: Dataset) -> dict[str, float] | None:
    """Test accuracy and loss, where the data set has a test split."""
    if data.x_test is None or data.y_test is None:
        return None
    logs = model.evaluate(data.x_test, data.y_test, batch_size=256, verbose=0, return_dict=True)
    return {TEST_ACCURACY: float(logs["accuracy"]), TEST_LOSS: float(logs["loss"])}


def register(model: keras.Model, data: Dataset, name: str, study_run: StudyRun) -> str:
    """Log the model on the study's parent run with its input signature; register it as `name`."""
    sample = data.x_val[:SIGNATURE_ROWS]
    signature = infer_signature(sample, model.predict(sample, verbose=0))
    mlflow.set_tracking_uri(study_run.tracking_uri)
    # MLflow prints "Successfully registered model" itself; `_register_once` says it once.
    # Its own guard, which counts nested users: `log_model` re-enables a plain switch.
    quiet = MlflowEventsAndWarningsBehaviorGlobally(
        disable_event_logs=True, disable_warnings=False, reroute_warnings=False
    )
    with quiet, mlflow.start_run(run_id=study_run.parent_run_id):
        info = mlflow.keras.log_model(
            model,
            name="model",
            signature=signature,
            # Given: inferring them is most of what logging a model costs (the final step is
            # timed by benchmarks/trial_artifacts.py).
            pip_requirements=requirements(),
            registered_model_name=name,
        )
    return str(info.registered_model_version)


def requirements() -> list[str]:
    """What loading the model needs: this process's TensorFlow and Keras, pinned."""
    pins = []
    for group in (("tensorflow-cpu", "tensorflow"), ("keras",)):
        for dist in group:
            try:
                pins.append(f"{dist}=={version(dist)}")
                break
            except PackageNotFoundError:
                continue
    return pins


def _log_scores(client: MlflowClient, run_ids: list[str], scores: dict[str, float]) -> None:
    now = int(time.time() * 1000)
    for run_id in run_ids:
        client.log_batch(run_id, metrics=[Metric(k, v, now, 0) for k, v in scores.items()])


def finalize_main(spec: StudySpec, storage: str, study_run: StudyRun) -> None:
    """The entry point of the supervisor's child that ends a study (`finalize_in_child`)."""
    load_keras()  # the caller's environment replaced the server's: TensorFlow's log level again
    try:
        finalize_study(spec, storage, study_run)
    except AutomlError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(USER_ERROR) from None
    except KeyboardInterrupt:
        raise SystemExit(INTERRUPTED) from None
