"""What a trial leaves besides numbers: its learning-curve plot and, for the best K, its model.

The plot goes to the trial's MLflow run and to Optuna's artifact store (optuna-dashboard shows
it on the trial's page). Models are kept only for the K best complete trials so far: a model
that falls out of the top K loses its file, so the disk stays bounded however long the study.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from automl.uris import is_url

if TYPE_CHECKING:
    pass

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
    if not is_url(storage):
        return Path(storage).resolve().parent / ARTIFACT_DIR_NAME
    if storage.startswith("sqlite:///"):
        path = storage.removeprefix("sqlite:///").split("?", 1)[0]
        if path and path != ":memory:":
            return Path(path).resolve().parent / ARTIFACT_DIR_NAME
    return Path.cwd() / ARTIFACT_DIR_NAME
