"""The IDX source: Fashion-MNIST's gzipped IDX files in a temporary Keras cache, read as Keras
reads them."""

from __future__ import annotations

import gzip
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from automl.cli.app import app
from automl.data.dataset import load_dataset
from tests.data_files import idx_bytes, spec, study_file, write_fashion


@pytest.mark.slow  # starts a Python that imports TensorFlow
def test_fashion_mnist_reads_what_keras_reads(keras_home: Path) -> None:
    write_fashion(keras_home / "datasets" / "fashion-mnist", n_train=30, n_test=10)
    data = load_dataset(spec(name="fashion_mnist"), seed=0)
    assert data.class_names[:3] == ("T-shirt/top", "Trouser", "Pullover")
    assert data.input_shape == (28, 28, 1) and len(data.y_train) + len(data.y_val) == 30

    # Keras's own loader, in a fresh process so that it sees this KERAS_HOME, reads the same.
    keras_read = keras_home / "keras_read.npz"
    code = (
        "import keras, numpy as np, sys\n"
        "(x, y), (xt, yt) = keras.datasets.fashion_mnist.load_data()\n"
        "np.savez(sys.argv[1], x=x, y=y, xt=xt, yt=yt)\n"
    )
    subprocess.run([sys.executable, "-c", code, str(keras_read)], check=True, timeout=120)
    with np.load(keras_read) as theirs:
        assert data.x_test is not None and data.y_test is not None
        assert (data.x_test[..., 0] == theirs["xt"]).all()
        assert (data.y_test == theirs["yt"]).all()
        ours = np.concatenate([data.x_train, data.x_val])[..., 0]
        assert sorted(map(bytes, ours)) == sorted(map(bytes, theirs["x"]))


@pytest.mark.parametrize(
    ("labels", "words"),
    [
        (np.zeros(30, np.uint8), "no image of class 1, 2, 3, 4, 5, ..."),
        (np.arange(30, dtype=np.uint8) % 10 + 1, "holds label 10, out of range 0..9"),
        (np.r_[np.arange(10), np.zeros(20)].astype(np.uint8), "class Trouser has 1 training"),
    ],
    ids=["one class", "1-based", "a class of one image"],
)
def test_fashion_mnist_labels_are_checked_by_validate(
    tmp_path: Path, labels: np.ndarray, words: str
) -> None:
    folder = write_fashion(tmp_path / "fashion", n_train=30, n_test=10)
    with gzip.open(folder / "train-labels-idx1-ubyte.gz", "wb") as f:
        f.write(idx_bytes(labels))
    study = study_file(tmp_path, {"name": "fashion_mnist", "path": str(folder)})
    result = CliRunner().invoke(app, ["validate", str(study)])
    assert result.exit_code == 2, result.output
    (line,) = result.output.strip().splitlines()
    assert line.startswith(f"error: {folder / 'train-labels-idx1-ubyte.gz'}: ") and words in line
