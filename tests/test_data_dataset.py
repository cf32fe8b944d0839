"""automl.data.dataset: the exact stratified `max_samples` subset, and a data set checked
before `automl run` starts anything, without TensorFlow."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from automl.cli.app import app
from automl.data.dataset import check_dataset, subset
from automl.errors import DataError
from tests.data_files import mnist_arrays, run_in, spec, study_file, write_folder, write_npz


def test_max_samples_is_an_exact_stratified_subset(tmp_path: Path) -> None:
    y = np.array([0] * 60 + [1] * 30 + [2] * 10)
    keep = subset(y, 20, seed=0)
    assert len(keep) == 20 and np.bincount(y[keep]).tolist() == [12, 6, 2]
    assert (subset(y, 20, seed=0) == keep).all() and (subset(y, 20, seed=1) != keep).any()

    path = write_npz(tmp_path / "m.npz", **mnist_arrays(n_train=100))
    with pytest.raises(DataError, match="max_samples: 15 leaves fewer than two images per class"):
        check_dataset(spec(name="npz", path=str(path), max_samples=15))


def test_bad_data_stops_automl_run_before_a_study_or_worker_exists(tmp_path: Path) -> None:
    bad = write_npz(tmp_path / "bad.npz", x_train=np.zeros((4, 8, 8)), y_train=np.arange(3))
    study = study_file(tmp_path, {"name": "npz", "path": str(bad)})
    result, stored = run_in(tmp_path, study)
    assert result.exit_code == 2
    assert result.output.strip() == (f"error: {bad}: x_train holds 4 images but y_train 3 labels")
    assert not any(p.exists() for p in stored)


def test_check_dataset_imports_no_tensorflow(tmp_path: Path) -> None:
    root = write_folder(tmp_path / "f", {"a": 2, "b": 2})
    npz = write_npz(tmp_path / "m.npz", **mnist_arrays(n_train=20, n_test=10))
    code = (
        "import sys\n"
        "from automl.data.dataset import check_dataset\n"
        "from automl.spec.schema import DatasetSpec\n"
        "check_dataset(DatasetSpec(name='folder', path=sys.argv[1]))\n"
        "check_dataset(DatasetSpec(name='npz', path=sys.argv[2]))\n"
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code, str(root), str(npz)], check=True, timeout=60)


def too_large(tmp: Path) -> dict[str, dict[str, object]]:
    """Data sets and image sizes whose arrays no machine here holds."""
    npz = write_npz(tmp / "m.npz", **mnist_arrays(n_train=20, n_test=10))
    folder = write_folder(tmp / "f", {"a": 2, "b": 2})
    return {
        "digits at 1e6 x 1e6": {"name": "digits", "image_size": 1_000_000},
        "digits in rgb at 2e5": {"name": "digits", "image_size": 200_000, "color_mode": "rgb"},
        "digits, a subset": {"name": "digits", "image_size": 300_000, "max_samples": 100},
        "npz at 1e7 x 3e5": {"name": "npz", "path": str(npz), "image_size": [10**7, 300_000]},
        "folder at 2^20": {"name": "folder", "path": str(folder), "image_size": 2**20},
    }


@pytest.mark.parametrize("command", ["validate", "run"])
def test_an_image_size_beyond_memory_is_refused_in_seconds(tmp_path: Path, command: str) -> None:
    for case, dataset in too_large(tmp_path).items():
        study = study_file(tmp_path, dataset)
        started = time.monotonic()
        if command == "validate":
            result, stored = CliRunner().invoke(app, ["validate", str(study)]), ()
        else:
            result, stored = run_in(tmp_path, study)
        assert result.exit_code == 2, (case, result.output)
        assert time.monotonic() - started < 20, case
        (line,) = result.output.strip().splitlines()
        assert line.startswith("error: dataset.image_size: "), (case, line)
        assert "of memory, more than the" in line and "available" in line, (case, line)
        assert re.search(r"need about [\d.]+ [TP]iB", line), (case, line)
        assert not any(p.exists() for p in stored), case


def test_a_size_that_fits_passes(tmp_path: Path) -> None:
    assert check_dataset(spec(name="digits", image_size=64)).startswith("scikit-learn digits")


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist", "cifar10", "cifar100"])
def test_validate_sizes_a_keras_set_before_it_is_downloaded(keras_home: Path, name: str) -> None:
    study = study_file(keras_home, {"name": name, "image_size": 100_000})
    result = CliRunner().invoke(app, ["validate", str(study)])
    assert result.exit_code == 2, result.output
    (line,) = result.output.strip().splitlines()
    assert line.startswith("error: dataset.image_size: 70,000 images") or line.startswith(
        "error: dataset.image_size: 60,000 images"
    ), line
    assert not any((keras_home / "datasets").iterdir())
