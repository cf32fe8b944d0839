"""The best trial's model as a `.keras` file, with a JSON description beside it.

The model comes from the trial's MLflow run when it was saved there; otherwise the trial
is trained again, in this process, by the same `Objective` with every hyperparameter fixed
to the trial's, its number (hence its seed) and the study's data split and epochs. Either
way the file takes raw inputs as the data set stores them: the model rescales them itself.
"""

from __future__ import annotations

import datetime
import json
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, cast

import keras
import optuna
from mlflow.exceptions import MlflowException

from automl.data.dataset import Dataset, load_dataset
from automl.errors import AutomlError, StorageError, first_line
from automl.keys import (
    FAILED_TRIAL_ATTR,
    MODEL_ATTR,
    RUN_ID_ATTR,
    SEED_ATTR,
    SPEC_ATTR,
    TEST_TRIAL,
)
from automl.results.query import best_trial, hyperparameters, load_study, test_result
from automl.spec.rules import parse
from automl.spec.schema import StudySpec, takes_option
from automl.tracking.study_run import client_for
from automl.train.objective import Objective, Outcome, TrialFailed
from automl.uris import missing_sqlite_store


@dataclass(frozen=True)
class Exported:
    """What `automl export` wrote and how faithful it is to the trial."""

    model_path: Path
    info_path: Path
    study: str
    trial: int
    metric: str
    trial_value: float
    source: str  # "artifact" or "retrained"
    why: str  # where the model came from, in words
    reproduced_value: float | None  # the retrained run's metric (same definition as the trial's)
    val_accuracy: float  # the written file, loaded again, scored on the validation split
    val_loss: float
    seed: int | None

    @property
    def gap(self) -> float | None:
        """How far the retrained run's value is from the trial's (None: not retrained)."""
        if self.reproduced_value is None:
            return None
        return abs(self.reproduced_value - self.trial_value)

    def lines(self) -> list[str]:
        """What `automl export` prints about it."""
        out = [
            f"trial {self.trial} ({self.metric} {self.trial_value:.4f}): {self.source}: {self.why}"
        ]
        if self.reproduced_value is not None:
            out.append(
                f"  retrained with seed {self.seed}: {self.metric} {self.reproduced_value:.4f} "
                f"(gap {self.gap:.4f} to the trial's)"
            )
        out.append(f"  the written model scores val_accuracy {self.val_accuracy:.4f}")
        out.append(f"wrote {self.model_path} and {self.info_path}")
        return out


def training_spec(record: dict[str, Any], hp: dict[str, Any]) -> StudySpec:
    """The stored study's data, metric, epochs and seed, with every hyperparameter fixed."""
    # Stored with every field's default; the rules refuse the options a set does not take.
    name = record["dataset"].get("name") or "digits"
    dataset = {
        k: v for k, v in record["dataset"].items() if v is not None and takes_option(name, k)
    }
    raw = {
        "name": record["name"],
        "dataset": dataset,
        "metric": record["metric"],
        "direction": record["direction"],
        "epochs": record["epochs"],
        "seed": record.get("seed"),
        # Studies stored before the option existed scored their trials by the last epoch.
        "restore_best_weights": record.get("restore_best_weights", False),
        "params": hp,
    }
    return parse(raw, source=f"study {record['name']} (as stored)")


def export_best(
    storage_url: str,
    name: str,
    out: Path,
    tracking_uri: str | None,
    retrain: bool = False,
    force: bool = False,
) -> Exported:
    """Write the best trial's model to `out` (a .keras file) and `out`.json beside it."""
    check_out(out, force)
    study = load_study(storage_url, name)
    best = best_trial(study)
    spec = stored_spec(study, best)
    data = load_dataset(spec.dataset, spec.seed or 0)
    out.parent.mkdir(parents=True, exist_ok=True)
    written = _write_model(best, spec, data, tracking_uri, out, retrain)
    val_loss, val_accuracy = _evaluate(keras.models.load_model(out), data)  # as a user will
    exported = Exported(
        model_path=out,
        info_path=out.with_suffix(".json"),
        study=name,
        trial=best.number,
        metric=spec.metric,
        trial_value=float(best.value or 0.0),
        source=written.source,
        why=written.why,
        reproduced_value=written.reproduced_value,
        val_accuracy=val_accuracy,
        val_loss=val_loss,
        seed=written.seed,
    )
    exported.info_path.write_text(
        json.dumps(_description(exported, study, best, spec, data), indent=2) + "\n",
        encoding="utf-8",
    )
    return exported


def check_out(out: Path, force: bool) -> None:
    """A .keras file, and no model or description written over unless asked to (`--force`)."""
    if out.suffix != ".keras":
        raise AutomlError(f"--out must name a .keras file (Keras 3 saves only that), got {out}")
    for path in (out, out.with_suffix(".json")):
        if path.is_dir():
            raise AutomlError(f"--out {out}: {path} is a folder, not a file to write")
        if path.exists() and not force:
            raise AutomlError(f"{path} exists; add --force to overwrite it")


@dataclass(frozen=True)
class _Written:
    """Where the model written to `out` came from."""

    source: str
    why: str
    reproduced_value: float | None
    seed: int | None


def _write_model(
    best: optuna.trial.FrozenTrial,
    spec: StudySpec,
    data: Dataset,
    tracking_uri: str | None,
    out: Path,
    retrain: bool,
) -> _Written:
    """The trial's saved model copied to `out`, or, when there is none, the trial retrained."""
    saved = "asked to (--retrain)" if retrain else _saved_model(best, tracking_uri, out)
    if isinstance(saved, Path):
        why = f"the model saved in MLflow run {best.user_attrs[RUN_ID_ATTR]}"
        return _Written("artifact", why, None, best.user_attrs.get(SEED_ATTR))
    model, reproduced, seed = retrain_trial(spec, data, best)
    model.save(out)
    return _Written("retrained", saved, reproduced, seed)


def _saved_model(best: optuna.trial.FrozenTrial, tracking_uri: str | None, out: Path) -> Path | str:
    """Copy the trial's saved model to `out`: its Path, or a string saying why not."""
    artifact = best.user_attrs.get(MODEL_ATTR)
    run_id = best.user_attrs.get(RUN_ID_ATTR)
    if not artifact or not run_id:
        return "the trial's model was not saved to MLflow"
    if tracking_uri is None:
        return "no MLflow tracking URI to fetch the saved model from"
    if missing_sqlite_store(tracking_uri):
        return f"no MLflow store at {tracking_uri} to fetch the saved model from"
    with tempfile.TemporaryDirectory(prefix="automl-export-") as tmp:
        try:
            local = client_for(tracking_uri).download_artifacts(run_id, artifact, tmp)
        except (MlflowException, OSError) as exc:
            # Models that fell out of the study's top K are deleted from their runs.
            return f"its saved model {artifact} in MLflow run {run_id} is gone ({first_line(exc)})"
        shutil.copyfile(local, out)
    return out


def stored_spec(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> StudySpec:
    """What trains `trial` again: the study's stored file with the trial's hyperparameters."""
    stored = study.user_attrs.get(SPEC_ATTR)
    if stored is None:
        raise StorageError(
            f"study {study.study_name} has no stored study file ({SPEC_ATTR}); it was created "
            "by an older automl: run `automl run FILE` on it once to record it"
        )
    return training_spec(json.loads(stored), hyperparameters(trial))


def retrain_trial(
    spec: StudySpec, data: Dataset, best: optuna.trial.FrozenTrial
) -> tuple[keras.Model, float, int]:
    """Train a trial again with the objective that ran it; returns model, value and seed."""
    outcomes: list[Outcome] = []
    objective = Objective(spec, data, on_outcome=outcomes.append)
    # A FixedTrial answers the objective's calls (report, should_prune, user attrs) without a
    # storage; its number gives the trial's seed (a retry's is its failure's), and every
    # hyperparameter is fixed in `spec`.
    first = int(best.system_attrs.get(FAILED_TRIAL_ATTR, best.number))
    trial = optuna.trial.FixedTrial({}, number=first)
    try:
        value = objective(cast(optuna.Trial, trial))
    except TrialFailed as exc:
        raise AutomlError(f"retraining trial {best.number} failed: {exc}") from None
    outcome = outcomes[0]
    stored_seed = best.user_attrs.get(SEED_ATTR)
    if stored_seed is not None and stored_seed != outcome.seed:
        raise AutomlError(
            f"trial {best.number} ran with seed {stored_seed}, but the study's seed now gives "
            f"{outcome.seed}: the study file's seed was changed after the trial ran"
        )
    assert outcome.model is not None  # a trial that returned a value trained a model
    return outcome.model, float(value), outcome.seed


def _evaluate(model: keras.Model, data: Dataset) -> tuple[float, float]:
    loss, accuracy = model.evaluate(data.x_val, data.y_val, batch_size=256, verbose=0)
    return float(loss), float(accuracy)


def _description(
    e: Exported,
    study: optuna.Study,
    best: optuna.trial.FrozenTrial,
    spec: StudySpec,
    data: Dataset,
) -> dict[str, Any]:
    """The JSON file beside the model: the trial, how faithful the file is, and its input."""
    test = test_result(study)
    return {
        "study": e.study,
        "trial": e.trial,
        "metric": e.metric,
        "direction": spec.direction,
        "value": e.trial_value,
        "hyperparameters": hyperparameters(best),
        "seed": e.seed,
        "epochs": spec.epochs,
        "source": e.source,
        "source_detail": e.why,
        "reproduced_value": e.reproduced_value,
        "reproduction_gap": e.gap,
        "validation": {"accuracy": e.val_accuracy, "loss": e.val_loss},
        "test": test if test is not None and test.get(TEST_TRIAL) == e.trial else None,
        "class_names": list(data.class_names),
        "dataset": {
            "description": data.description,
            "spec": asdict(spec.dataset),
            "input_shape": list(data.input_shape),
            "input_scale": data.input_scale,
            "input": (
                f"raw images as the data set stores them, shape (N, "
                f"{', '.join(str(s) for s in data.input_shape)}), values 0..{data.input_scale:g}; "
                "the model rescales them itself"
            ),
        },
        "mlflow_run_id": best.user_attrs.get(RUN_ID_ATTR),
        "keras_version": keras.__version__,
        "exported_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }
