"""Tiny data files in the real formats, for the data tests: folders of PNGs, npz files in
mnist.npz's layout, Fashion-MNIST's gzipped IDX files; and the study files and runs that use them.
"""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import yaml
from PIL import Image
from typer.testing import CliRunner, Result

from automl.cli.app import app
from automl.spec.rules import parse
from automl.spec.schema import DatasetSpec


def pattern(label: int, index: int, shape: tuple[int, ...]) -> np.ndarray:
    """A uint8 image whose pixels tell its class and index apart."""
    values = (np.arange(int(np.prod(shape))) * 7 + label * 50 + index * 3) % 256
    return values.reshape(shape).astype(np.uint8)


def write_folder(
    root: Path, classes: dict[str, int], size: tuple[int, int] = (10, 12), mode: str = "RGB"
) -> Path:
    """One subfolder of PNGs per class; size is (height, width)."""
    for label, (name, count) in enumerate(classes.items()):
        (root / name).mkdir(parents=True)
        for i in range(count):
            shape = (*size, 3) if mode == "RGB" else size
            Image.fromarray(pattern(label, i, shape), mode=None).save(root / name / f"{i}.png")
    return root


def write_npz(path: Path, **arrays: np.ndarray) -> Path:
    np.savez(path, **arrays)
    return path


def mnist_arrays(n_train: int = 40, n_test: int = 20, side: int = 28) -> dict[str, np.ndarray]:
    """mnist.npz's keys, dtypes and layout: uint8 (N, 28, 28) images, uint8 labels."""
    y_train = (np.arange(n_train) % 10).astype(np.uint8)
    y_test = (np.arange(n_test) % 10).astype(np.uint8)
    return {
        "x_train": np.stack([pattern(int(c), i, (side, side)) for i, c in enumerate(y_train)]),
        "y_train": y_train,
        "x_test": np.stack([pattern(int(c), i + 1, (side, side)) for i, c in enumerate(y_test)]),
        "y_test": y_test,
    }


def idx_bytes(array: np.ndarray) -> bytes:
    """The IDX format of MNIST and Fashion-MNIST: 0, 0, 0x08 (bytes), ndim, sizes, data."""
    header = bytes([0, 0, 8, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_fashion(folder: Path, n_train: int = 30, n_test: int = 10) -> Path:
    folder.mkdir(parents=True)
    arrays = mnist_arrays(n_train, n_test)
    for name, key in (
        ("train-labels-idx1-ubyte.gz", "y_train"),
        ("train-images-idx3-ubyte.gz", "x_train"),
        ("t10k-labels-idx1-ubyte.gz", "y_test"),
        ("t10k-images-idx3-ubyte.gz", "x_test"),
    ):
        with gzip.open(folder / name, "wb") as f:
            f.write(idx_bytes(arrays[key]))
    return folder


def spec(**fields: object) -> DatasetSpec:
    """A DatasetSpec through the study file's own parser."""
    return parse({"name": "t", "dataset": dict(fields)}).dataset


def study_file(tmp_path: Path, dataset: dict[str, object], **fields: object) -> Path:
    path = tmp_path / "study.yaml"
    study = {"name": "data-test", "dataset": dataset, "epochs": 1, "trials": 1, **fields}
    path.write_text(yaml.safe_dump(study))
    return path


def run_in(tmp_path: Path, study: Path) -> tuple[Result, tuple[Path, Path]]:
    """`automl run` with its Optuna journal and MLflow store in tmp_path (returned, to check)."""
    journal, mlflow_db = tmp_path / "study.journal", tmp_path / "mlflow.db"
    uri = f"sqlite:///{mlflow_db}"
    args = ["run", str(study), "--storage", str(journal), "--tracking-uri", uri]
    return CliRunner().invoke(app, args), (journal, mlflow_db)


def refused_line(tmp_path: Path, dataset: dict[str, object], command: str, case: str) -> str:
    """`automl validate` or `automl run` on a study of `dataset`: the one `error:` line it
    exits 2 with, after checking that nothing was stored."""
    study = study_file(tmp_path, dataset)
    if command == "validate":
        result, stored = CliRunner().invoke(app, ["validate", str(study)]), ()
    else:
        result, stored = run_in(tmp_path, study)
    assert result.exit_code == 2, (case, result.output)
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), (case, result.output)
    assert not any(p.exists() for p in stored), case
    return lines[0]
