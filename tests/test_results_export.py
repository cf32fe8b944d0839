"""`automl export` on a real tiny study: the file loads, takes raw digits, and matches the trial."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import optuna
import pytest
from typer.testing import CliRunner

from automl.cli.app import app
from automl.run.storage import open_storage

runner = CliRunner()

TINY = """
name: tiny
dataset: digits
epochs: 2
sampler: {name: random, seed: 0}
pruner: none
trials: 2
seed: 0
params:
  learning_rate: {low: 1e-3, high: 1e-2, log: true}
  beta_2: {low: 0.99, high: 0.9995, scale: log1m}
  width: 8
  depth: 1
"""


class Run:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.storage = str(root / "automl.journal")
        self.tracking = f"sqlite:///{root / 'mlflow.db'}"

    def study(self) -> optuna.Study:
        return optuna.load_study(study_name="tiny", storage=open_storage(self.storage))

    def cli(self, *args: str) -> tuple[int, str, str]:
        result = runner.invoke(
            app, [*args, "--storage", self.storage, "--tracking-uri", self.tracking]
        )
        return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    """A real `automl run` of 2 trials of 2 epochs on digits (about 15 s)."""
    root = tmp_path_factory.mktemp("export")
    (root / "tiny.yaml").write_text(TINY, encoding="utf-8")
    run = Run(root)
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)  # MLflow keeps a new experiment's artifacts under ./mlruns
        code, out, err = run.cli("run", str(root / "tiny.yaml"))
        assert code == 0, out + err
        yield run


@pytest.mark.slow
def test_retrained_export_loads_takes_raw_digits_and_reproduces_the_trial(tiny: Run) -> None:
    import keras
    from sklearn.datasets import load_digits

    out = tiny.root / "models" / "best.keras"
    code, stdout, stderr = tiny.cli("export", "tiny", "--out", str(out), "--retrain")

    assert code == 0, stdout + stderr
    best = tiny.study().best_trial
    info = json.loads(out.with_suffix(".json").read_text(encoding="utf-8"))
    assert f"trial {best.number} " in stdout and "retrained: asked to (--retrain)" in stdout
    assert info["source"] == "retrained"
    assert info["trial"] == best.number and info["value"] == best.value
    assert info["hyperparameters"] == best.user_attrs["hyperparameters"]
    assert info["seed"] == best.user_attrs["seed"]
    assert info["class_names"] == [str(i) for i in range(10)]
    assert "digits" in info["dataset"]["description"]
    # Same objective, seed, split and epochs on CPU: the trial's value comes back exactly, as
    # docs/results.md says (benchmarks/reproducibility.py measures it across thread counts).
    assert info["reproduced_value"] == best.value and info["reproduction_gap"] == 0.0
    assert f"gap {info['reproduction_gap']:.4f}" in stdout

    model = keras.models.load_model(out)
    digits = load_digits()
    raw = digits.images[..., None].astype("float32")  # values 0..16, as the data set stores them
    predicted = np.argmax(model.predict(raw, verbose=0), axis=1)
    accuracy = float(np.mean(predicted == digits.target))
    assert accuracy > 0.6  # 2 epochs of a small CNN; chance is 0.1
    assert info["validation"]["accuracy"] > 0.6


@pytest.mark.slow
def test_export_takes_the_saved_model_and_retrains_once_it_is_gone(tiny: Run) -> None:
    import keras
    from mlflow import MlflowClient
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

    from automl.train.objective import trial_seed

    # A trial whose model was saved to its MLflow run as model/model.keras, as `automl run`
    # does for its best trials.
    study = tiny.study()
    first = study.best_trial
    client = MlflowClient(tracking_uri=tiny.tracking)
    run_id = client.create_run(study.user_attrs["mlflow_experiment_id"]).info.run_id
    model = keras.models.load_model(_any_model(tiny))
    saved = tiny.root / "saved" / "model.keras"
    saved.parent.mkdir()
    model.save(saved)
    client.log_artifact(run_id, str(saved), artifact_path="model")
    number = len(study.get_trials())
    study.add_trial(
        optuna.trial.create_trial(
            state=optuna.trial.TrialState.COMPLETE,
            value=0.999,
            params=first.params,
            distributions=first.distributions,
            intermediate_values={1: 0.9, 2: 0.999},
            user_attrs={
                **first.user_attrs,
                "seed": trial_seed(0, number),
                "mlflow_run_id": run_id,
                "model_artifact": "model/model.keras",
            },
        )
    )

    out = tiny.root / "from-artifact.keras"
    code, stdout, stderr = tiny.cli("export", "tiny", "--out", str(out))

    assert code == 0, stdout + stderr
    assert f"trial {number} " in stdout and f"artifact: the model saved in MLflow run {run_id}" in (
        stdout
    )
    assert out.read_bytes() == saved.read_bytes()
    info = json.loads(out.with_suffix(".json").read_text(encoding="utf-8"))
    assert info["source"] == "artifact" and info["reproduced_value"] is None

    # Models that fall out of the top K are deleted from their runs: export retrains.
    get_artifact_repository(client.get_run(run_id).info.artifact_uri).delete_artifacts("model")
    code, stdout, stderr = tiny.cli("export", "tiny", "--out", str(out), "--force")

    assert code == 0, stdout + stderr
    assert "retrained: its saved model model/model.keras in MLflow run" in stdout
    assert "is gone" in stdout
    info = json.loads(out.with_suffix(".json").read_text(encoding="utf-8"))
    assert info["source"] == "retrained" and info["seed"] == trial_seed(0, number)


def _any_model(run: Run) -> Path:
    """A real trained model to stand in the run: the retrained export, or one made now."""
    path = run.root / "models" / "best.keras"
    if not path.exists():
        code, stdout, stderr = run.cli("export", "tiny", "--out", str(path), "--retrain")
        assert code == 0, stdout + stderr
    return path


def test_export_refuses_a_file_keras_cannot_write(tmp_path: Path) -> None:
    url = str(tmp_path / "s.journal")
    optuna.create_study(study_name="s", storage=open_storage(url))
    result = runner.invoke(app, ["export", "s", "--out", str(tmp_path / "m.h5"), "--storage", url])
    assert result.exit_code == 2
    assert "--out must name a .keras file" in result.stderr
    assert "Traceback" not in result.output


def test_export_of_a_study_from_an_older_automl_says_how_to_fix_it(tmp_path: Path) -> None:
    url = str(tmp_path / "s.journal")
    study = optuna.create_study(study_name="old", storage=open_storage(url))
    study.add_trial(optuna.trial.create_trial(value=0.5, params={}, distributions={}))
    result = runner.invoke(
        app, ["export", "old", "--out", str(tmp_path / "m.keras"), "--storage", url]
    )
    assert result.exit_code == 2
    assert "has no stored study file (automl.spec)" in result.stderr
    assert not (tmp_path / "m.keras").exists()


@pytest.mark.parametrize("existing", ["m.keras", "m.json", "both", "a folder m.keras"])
def test_export_refuses_to_write_over_a_file_unless_forced(tmp_path: Path, existing: str) -> None:
    url = str(tmp_path / "s.journal")
    study = optuna.create_study(study_name="old", storage=open_storage(url))
    study.add_trial(optuna.trial.create_trial(value=0.5, params={}, distributions={}))
    out = tmp_path / "m.keras"
    if existing == "a folder m.keras":
        out.mkdir()
    for name in {"both": ["m.keras", "m.json"]}.get(existing, [existing]):
        if not name.startswith("a folder"):
            (tmp_path / name).write_bytes(b"the user's " + name.encode())
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    args = ["export", "old", "--out", str(out), "--storage", url]
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    (line,) = result.output.strip().splitlines()
    if existing == "a folder m.keras":
        assert line == f"error: --out {out}: {out} is a folder, not a file to write"
    else:
        first = out if existing != "m.json" else out.with_suffix(".json")
        assert line == f"error: {first} exists; add --force to overwrite it"
        # With --force the export goes on (here to the study, which cannot be exported).
        forced = runner.invoke(app, [*args, "--force"])
        assert forced.exit_code == 2 and "has no stored study file" in forced.output
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()} == before
