"""Where a trial's files go: the names of its artifacts in its MLflow run (the learning-curve
plot; the model, kept only for the K best complete trials so far, so the disk stays bounded
however long the study) and Optuna's artifact folder beside the storage, which
optuna-dashboard reads.
"""

from __future__ import annotations

import os
from pathlib import Path

from automl.uris import local_file

ARTIFACTS_ENV = "AUTOML_ARTIFACTS"
ARTIFACT_DIR_NAME = "automl-artifacts"
MODEL_DIR = "model"
MODEL_FILE = "model.keras"
MODEL_ARTIFACT = f"{MODEL_DIR}/{MODEL_FILE}"
CURVES_DIR = "plots"
CURVES_FILE = "learning_curves.png"


def artifact_dir(storage: str) -> Path:
    """Optuna's artifact folder for a storage: $AUTOML_ARTIFACTS, else beside the storage file.

    `automl run` writes there and `automl dashboard` reads there, so both derive it from the
    same storage string. A database server has no folder of its own: the current one is used.
    """
    configured = os.environ.get(ARTIFACTS_ENV)
    if configured:
        return Path(configured).resolve()
    path = local_file(storage)
    if path is None:
        return Path.cwd() / ARTIFACT_DIR_NAME
    return path.resolve().parent / ARTIFACT_DIR_NAME
