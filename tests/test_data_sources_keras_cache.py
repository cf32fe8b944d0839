"""Keras's data sets: found in the Keras cache or `dataset.path`, and what a missing one says.

No test touches the network: the Keras cache is a temporary KERAS_HOME, and the one test that
lets Keras try a download points its proxy at a closed port.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from automl.cli.app import app
from automl.data.dataset import check_dataset, load_dataset
from automl.errors import DataError
from tests.data_files import mnist_arrays, run_in, spec, study_file, write_fashion, write_npz


def test_mnist_from_the_keras_cache_or_from_a_path(keras_home: Path, tmp_path: Path) -> None:
    arrays = mnist_arrays(n_train=40, n_test=20)
    write_npz(keras_home / "datasets" / "mnist.npz", **arrays)
    data = load_dataset(spec(name="mnist"))
    assert data.class_names == tuple(str(i) for i in range(10))
    assert data.input_shape == (28, 28, 1) and data.x_train.dtype == np.uint8
    assert data.x_test is not None and (data.x_test[..., 0] == arrays["x_test"]).all()

    copy = write_npz(tmp_path / "my-mnist-copy.npz", **arrays)
    assert "my-mnist-copy.npz" in check_dataset(spec(name="mnist", path=str(copy)))


def test_a_path_without_the_keras_files_names_what_it_expected(tmp_path: Path) -> None:
    (tmp_path / "cifar-100-python").mkdir()
    (tmp_path / "cifar-100-python" / "train").write_bytes(b"")
    with pytest.raises(DataError, match=r"holds no CIFAR-100 files; expected cifar-100-python"):
        check_dataset(spec(name="cifar100", path=str(tmp_path)))

    folder = write_fashion(tmp_path / "fashion")
    broken = folder / "t10k-images-idx3-ubyte.gz"
    broken.write_text("not gzip")
    with pytest.raises(DataError, match=f"{broken}: not a gzipped IDX file"):
        check_dataset(spec(name="fashion_mnist", path=str(folder)))


@pytest.mark.slow
def test_offline_run_says_which_file_to_put_where_before_anything_starts(
    keras_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No network in tests: even where there is one, Keras's download goes to a closed port.
    for var in ("https_proxy", "http_proxy", "HTTPS_PROXY", "HTTP_PROXY"):
        monkeypatch.setenv(var, "http://127.0.0.1:9")
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    study = study_file(tmp_path, {"name": "mnist"})

    checked = CliRunner().invoke(app, ["validate", str(study)])
    assert checked.exit_code == 0 and "not in the Keras cache yet" in checked.output

    result, stored = run_in(tmp_path, study)
    assert result.exit_code == 2
    errors = [line for line in result.output.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1
    assert f"put mnist.npz in {keras_home / 'datasets'}" in errors[0]
    assert "could not be downloaded" in errors[0] and "npz or folder" in errors[0]
    assert not any(p.exists() for p in stored)
