"""automl.data.dataset: the exact stratified `max_samples` subset, and a data set checked
before `automl run` starts anything, without TensorFlow."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

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
