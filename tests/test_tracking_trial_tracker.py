"""What real trials leave in MLflow and Optuna: links both ways, learning curves, the best K
models, the registered final model (the study's final step, `automl.run.finalize`, run on
the same tracked study), and plainly marked pruned and failed runs."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import optuna
import pytest
from mlflow import MlflowClient

import automl.run.finalize
from automl.ranking import top_k
from automl.run.storage import open_storage
from automl.spec.rules import parse
from automl.spec.schema import StudySpec
from automl.tracking.artifacts import artifact_dir
from automl.tracking.study_run import StudyRun
from automl.tracking.trial_tracker import TrialTracker
from automl.uris import storage_label

PNG = b"\x89PNG\r\n\x1a\n"
TRACKED = {
    "name": "tracked",
    "epochs": 1,
    "trials": 2,
    "keep_models": 1,
    "seed": 0,
    "sampler": {"name": "random", "seed": 0},
    "pruner": "none",
    "params": {"learning_rate": {"low": 1e-4, "high": 1e-2, "log": True}, "width": 8, "depth": 1},
}


@dataclass
class Tracked:
    folder: Path
    spec: StudySpec
    storage: str
    tracking_uri: str
    study: optuna.Study
    client: MlflowClient

    def study_run(self) -> StudyRun:
        attrs = self.study.user_attrs
        return StudyRun(
            self.tracking_uri, attrs["mlflow_experiment_id"], attrs["mlflow_parent_run_id"]
        )


@pytest.fixture(scope="module")
def tracked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tracked]:
    """A two-trial study run end to end: a poor trial (lr 1e-4) first, then a good one (1e-2)."""
    from automl.run.study import open_study
    from automl.run.supervisor import run_study

    folder = tmp_path_factory.mktemp("tracked")
    spec = parse(TRACKED)
    storage = str(folder / "automl.journal")
    tracking_uri = f"sqlite:///{folder / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(folder)  # MLflow puts a SQLite store's artifacts in ./mlruns
        mp.delenv("AUTOML_ARTIFACTS", raising=False)
        queued = open_study(spec, storage)
        queued.enqueue_trial({"learning_rate": 1e-4})
        queued.enqueue_trial({"learning_rate": 1e-2})
        result = run_study(spec, storage, tracking_uri, workers=1)
        assert result.states == {"COMPLETE": 2}
        study = optuna.load_study(study_name=spec.name, storage=open_storage(storage))
        yield Tracked(folder, spec, storage, tracking_uri, study, MlflowClient(tracking_uri))


@pytest.mark.slow
def test_each_trial_and_its_run_point_at_each_other(tracked: Tracked) -> None:
    study, client = tracked.study, tracked.client
    experiment = client.get_experiment(study.user_attrs["mlflow_experiment_id"])
    assert experiment.name == "tracked"
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    assert "mlflow_experiment_url" not in study.user_attrs  # a SQLite store has no web address
    parent_id = study.user_attrs["mlflow_parent_run_id"]
    for trial in study.trials:
        run = client.get_run(trial.user_attrs["mlflow_run_id"])
        assert run.info.run_name == f"trial-{trial.number}"
        assert run.info.status == "FINISHED"
        assert run.data.tags["mlflow.parentRunId"] == parent_id
        assert run.data.tags["automl.study"] == "tracked"
        assert run.data.tags["automl.trial_number"] == str(trial.number)
        assert run.data.tags["automl.state"] == "COMPLETE"
        assert run.data.tags["automl.storage"] == str(Path(tracked.storage).resolve())
        note = run.data.tags["mlflow.note.content"]
        assert f"/dashboard/studies/{study._study_id}/trials?numbers={trial.number}" in note
        assert "mlflow_run_url" not in trial.user_attrs


@pytest.mark.slow
def test_every_trial_has_its_learning_curves_in_mlflow_and_in_the_dashboard_store(
    tracked: Tracked,
) -> None:
    from optuna.artifacts import get_all_artifact_meta
    from PIL import Image

    folder = artifact_dir(tracked.storage)
    assert folder == tracked.folder / "automl-artifacts"
    for trial in tracked.study.trials:
        run_id = trial.user_attrs["mlflow_run_id"]
        local = tracked.client.download_artifacts(
            run_id, "plots/learning_curves.png", str(tracked.folder)
        )
        (meta,) = get_all_artifact_meta(trial, storage=tracked.study._storage)
        assert meta.filename == "learning_curves.png" and meta.mimetype == "image/png"
        stored = folder / meta.artifact_id
        assert stored.read_bytes() == Path(local).read_bytes()
        assert stored.read_bytes().startswith(PNG)
        with Image.open(stored) as image:
            assert image.size == (900, 360)


@pytest.mark.slow
def test_only_the_best_k_models_stay_and_they_load_and_score_as_trained(
    tracked: Tracked,
) -> None:
    import keras

    from automl.data.dataset import load_dataset

    poor, good = tracked.study.trials
    assert good.value > poor.value  # lr 1e-2 beats lr 1e-4 after one epoch
    for trial in (poor, good):  # the poor one was the best when it finished
        assert trial.user_attrs["model_artifact"] == "model/model.keras"

    def models(trial: optuna.trial.FrozenTrial) -> list[str]:
        return [f.path for f in tracked.client.list_artifacts(trial.user_attrs["mlflow_run_id"])]

    assert "model" not in models(poor)  # keep_models: 1, so the better trial pushed it out
    assert "model" in models(good)
    path = tracked.client.download_artifacts(
        good.user_attrs["mlflow_run_id"], "model/model.keras", str(tracked.folder)
    )
    model = keras.models.load_model(path)
    data = load_dataset(tracked.spec.dataset, 0)
    logs = model.evaluate(data.x_val, data.y_val, verbose=0, return_dict=True)
    assert logs["accuracy"] == pytest.approx(good.value, abs=1e-6)


@pytest.mark.slow
def test_the_best_model_is_registered_under_the_study_name_with_its_signature(
    tracked: Tracked,
) -> None:
    import mlflow
    from sklearn.datasets import load_digits

    best = tracked.study.best_trial
    parent = tracked.client.get_run(tracked.study.user_attrs["mlflow_parent_run_id"])
    assert parent.info.status == "FINISHED"
    assert parent.data.tags["automl.registered_trial"] == str(best.number)
    (version,) = tracked.client.search_model_versions("name = 'tracked'")
    assert int(version.version) == 1 and version.run_id == parent.info.run_id
    uri = "models:/tracked/1"
    mlflow.set_tracking_uri(tracked.tracking_uri)
    info = mlflow.models.get_model_info(uri)
    (inputs,) = info.signature.inputs.to_dict()
    assert inputs["tensor-spec"] == {"dtype": "float32", "shape": (-1, 8, 8, 1)}
    model = mlflow.keras.load_model(uri)
    digits = load_digits()
    raw = digits.images[..., None].astype(np.float32)  # values 0..16, as the data set stores them
    accuracy = float(np.mean(model.predict(raw, verbose=0).argmax(axis=1) == digits.target))
    assert accuracy > 0.5
    assert "automl.test" not in tracked.study.user_attrs  # digits has no test split
    assert tracked.study.user_attrs["automl.finalized_trial"] == best.number


@pytest.mark.slow
def test_the_final_step_scores_a_test_split_and_waits_for_a_model_written_late(
    tracked: Tracked, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import keras

    from automl.data.dataset import Dataset, load_dataset, split
    from automl.run.finalize import finalize_study
    from automl.tracking.trial_tracker import drop_model

    digits = load_dataset(tracked.spec.dataset, 0)
    x_val, y_val, x_test, y_test = split(digits.x_val, digits.y_val, 0.5, 1)
    data = Dataset(
        digits.x_train, digits.y_train, x_val, y_val, x_test, y_test,
        digits.class_names, digits.input_scale, "digits with a test split",
    )  # fmt: skip
    study_run = tracked.study_run()
    finalize_study(tracked.spec, tracked.storage, study_run, data=data)

    study = optuna.load_study(study_name="tracked", storage=open_storage(tracked.storage))
    best = study.best_trial
    result = study.user_attrs["automl.test"]
    assert set(result) == {"trial", "test_accuracy", "test_loss"} and result["trial"] == best.number
    path = tracked.client.download_artifacts(
        best.user_attrs["mlflow_run_id"], "model/model.keras", str(tracked.folder)
    )
    logs = keras.models.load_model(path).evaluate(x_test, y_test, verbose=0, return_dict=True)
    assert result["test_accuracy"] == pytest.approx(logs["accuracy"])
    assert result["test_loss"] == pytest.approx(logs["loss"], rel=1e-5)
    for run_id in (best.user_attrs["mlflow_run_id"], study_run.parent_run_id):
        metrics = tracked.client.get_run(run_id).data.metrics
        assert metrics["test_accuracy"] == pytest.approx(result["test_accuracy"])
    assert len(tracked.client.search_model_versions("name = 'tracked'")) == 1  # not twice
    assert "on the test split: accuracy" in capsys.readouterr().out

    # A worker writes a model file after its trial ends: the end of the study waits for one
    # that is late, for a while, and then does without it.
    run_id = best.user_attrs["mlflow_run_id"]
    drop_model(tracked.client, tracked.tracking_uri, best)
    tracked.client.set_tag(study_run.parent_run_id, "automl.registered_trial", "none")
    monkeypatch.setattr(automl.run.finalize, "MODEL_WAIT_SECONDS", 1.0)
    finalize_study(tracked.spec, tracked.storage, study_run)
    out = capsys.readouterr().out
    assert f"waiting for the model of trial {best.number}" in out
    assert f"note: best trial {best.number} has no saved model in MLflow" in out
    assert len(tracked.client.search_model_versions("name = 'tracked'")) == 1

    monkeypatch.setattr(automl.run.finalize, "MODEL_WAIT_SECONDS", 60.0)
    late = threading.Timer(
        1.0, tracked.client.log_artifact, (run_id, path, "model")
    )  # the worker's writer, behind
    late.start()
    finalize_study(tracked.spec, tracked.storage, study_run)
    late.join()
    out = capsys.readouterr().out
    assert f"waiting for the model of trial {best.number}" in out
    assert f"registered the model of trial {best.number} as tracked, version 2" in out


def _tracked_study(
    folder: Path, name: str, monkeypatch: pytest.MonkeyPatch
) -> tuple[StudySpec, optuna.Study, TrialTracker, MlflowClient]:
    """A new study in `folder` with its tracker, for trials the test drives by hand."""
    from automl.run.study import open_study
    from automl.tracking.study_run import start_study_run
    from automl.tracking.trial_tracker import TrialTracker

    monkeypatch.chdir(folder)  # MLflow puts a SQLite store's artifacts in ./mlruns
    spec = parse({**TRACKED, "name": name})
    storage = str(folder / "automl.journal")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    study = open_study(spec, storage)
    study_id = open_storage(storage).get_study_id_from_name(name)
    tracker = TrialTracker(
        start_study_run(spec, study, uri, storage, study_id), spec, storage, study_id
    )
    return spec, study, tracker, MlflowClient(uri)


def test_pruned_and_failed_runs_are_marked_not_finished(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from automl.search.space import suggest
    from automl.train.objective import Outcome

    spec, study, tracker, client = _tracked_study(tmp_path, "marked", monkeypatch)

    def start() -> optuna.Trial:
        trial = study.ask()
        hp = suggest(trial, spec)
        tracker.trial_started(trial, hp)
        # A pruned trial trained an epoch: its curves are kept like any other's.
        tracker.collect(Outcome(trial.number, hp, 0, history=[{"loss": 2.0, "accuracy": 0.3}]))
        return trial

    pruned = start()
    study.tell(pruned, state=optuna.trial.TrialState.PRUNED)
    tracker(study, study.trials[pruned.number])
    failed = start()
    failed.set_user_attr("fail_reason", "diverged: loss became nan at epoch 1")
    study.tell(failed, state=optuna.trial.TrialState.FAIL)
    tracker(study, study.trials[failed.number])
    tracker.close()

    experiment = study.user_attrs["mlflow_experiment_id"]
    runs = {
        int(r.data.tags["automl.trial_number"]): r
        for r in client.search_runs([experiment])
        if "automl.trial_number" in r.data.tags
    }
    assert sorted(runs) == [0, 1]
    assert runs[pruned.number].info.status == "KILLED"
    assert runs[pruned.number].data.tags["automl.state"] == "PRUNED"
    assert runs[failed.number].info.status == "FAILED"
    assert runs[failed.number].data.tags["automl.state"] == "FAIL"
    assert runs[failed.number].data.tags["automl.fail_reason"].startswith("diverged: loss")
    for run in runs.values():
        assert [f.path for f in client.list_artifacts(run.info.run_id, "plots")] == [
            "plots/learning_curves.png"
        ]
        assert "model" not in {f.path for f in client.list_artifacts(run.info.run_id)}


@pytest.mark.slow
def test_a_trial_ends_normally_when_its_plotter_died(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    import os
    import signal

    from automl.search.space import suggest
    from automl.train.objective import Outcome

    spec, study, tracker, client = _tracked_study(tmp_path, "no-plotter", monkeypatch)
    os.kill(tracker._plotter.submit(os.getpid).result(), signal.SIGKILL)  # say, the OOM killer
    trial = study.ask()
    hp = suggest(trial, spec)
    tracker.trial_started(trial, hp)
    tracker.collect(Outcome(trial.number, hp, 0.5, history=[{"loss": 2.0, "accuracy": 0.3}]))
    study.tell(trial, 0.5)
    tracker(study, study.trials[trial.number])
    tracker.close()

    (run,) = [
        r
        for r in client.search_runs([study.user_attrs["mlflow_experiment_id"]])
        if r.data.tags.get("automl.trial_number") == str(trial.number)
    ]
    assert run.info.status == "FINISHED" and run.data.metrics["trial_value"] == 0.5
    assert f"warning: trial {trial.number}: its curves were not stored" in capfd.readouterr().err


def test_top_k_is_direction_aware_and_keeps_the_earlier_trial_on_a_tie() -> None:
    values = {0: 0.5, 1: 0.9, 2: 0.7, 3: 0.9}
    assert top_k(values, 2, "maximize") == {1, 3}
    assert top_k(values, 1, "maximize") == {1}
    assert top_k(values, 2, "minimize") == {0, 2}
    assert top_k(values, 0, "maximize") == set()
    assert top_k(values, 9, "minimize") == {0, 1, 2, 3}


def test_a_storage_password_never_reaches_mlflow() -> None:
    assert storage_label("postgresql://me:s3cret@db:5432/x") == "postgresql://me:***@db:5432/x"
    assert storage_label("postgresql://me@db/x") == "postgresql://me@db/x"
