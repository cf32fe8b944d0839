"""The npz source: files in mnist.npz's layout and variations of it, and the one-line error of
each broken file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from automl.cli.app import app
from automl.data.dataset import load_dataset
from tests.data_files import mnist_arrays, spec, study_file, write_npz


def test_npz_in_mnist_layout_keeps_its_test_set_raw_and_apart(tmp_path: Path) -> None:
    arrays = mnist_arrays(n_train=50, n_test=20)
    path = write_npz(tmp_path / "mine.npz", **arrays)
    data = load_dataset(spec(name="npz", path=str(path), image_size=[14, 14]), seed=3)

    assert data.class_names == tuple(str(i) for i in range(10))
    assert data.input_scale == 255.0 and data.x_train.dtype == np.uint8
    assert data.input_shape == (14, 14, 1)
    assert len(data.y_train) + len(data.y_val) == 50 and len(data.y_val) == 10
    # The test set is the file's, resized like the training images, never split or subset.
    assert data.x_test is not None and data.y_test is not None
    assert data.x_test.shape == (20, 14, 14, 1) and data.x_test.dtype == np.uint8
    assert data.y_test.tolist() == arrays["y_test"].tolist()


def test_npz_with_channels_floats_a_validation_set_and_class_names(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    path = write_npz(
        tmp_path / "floats.npz",
        x_train=rng.uniform(0, 16, (30, 8, 8, 1)).astype(np.float32),
        y_train=np.arange(30) % 3,
        x_val=rng.uniform(0, 16, (6, 8, 8, 1)).astype(np.float32),
        y_val=np.arange(6).reshape(6, 1) % 3,
        class_names=np.array(["circle", "square", "star"]),
    )
    data = load_dataset(spec(name="npz", path=str(path)))
    assert data.class_names == ("circle", "square", "star")
    assert 15 < data.input_scale <= 16  # the largest raw value, for the model's Rescaling
    assert len(data.y_train) == 30 and data.y_val.tolist() == [0, 1, 2, 0, 1, 2]


def bad_npz_files(tmp: Path) -> dict[str, tuple[Path, str]]:
    """Broken npz files and the words their error line must hold (besides the path)."""
    good = mnist_arrays(n_train=20, n_test=10)
    x, y = good["x_train"], good["y_train"]
    text = tmp / "text.npz"
    text.write_text("x_train,y_train\n")
    cases = {
        "missing path": (tmp / "nowhere.npz", "no such file"),
        "not an npz": (text, "is not an npz file"),
        "wrong keys": (write_npz(tmp / "keys.npz", images=x, labels=y), "missing key 'x_train'"),
        "unknown key": (write_npz(tmp / "extra.npz", x_train=x, y_train=y, w=y), "unknown key 'w'"),
        "x without y": (write_npz(tmp / "pair.npz", x_train=x, y_train=y, x_test=x), "'y_test'"),
        "lengths differ": (write_npz(tmp / "len.npz", x_train=x, y_train=y[:-1]), "20 images"),
        "negative label": (
            write_npz(tmp / "neg.npz", x_train=x, y_train=y.astype(int) - 1),
            "label -1",
        ),
        "test label out of range": (
            write_npz(tmp / "range.npz", x_train=x, y_train=y, x_test=x, y_test=y + 5),
            "y_test holds label 14, out of range 0..9",
        ),
        "one-hot labels": (
            write_npz(tmp / "onehot.npz", x_train=x, y_train=np.eye(10)[y]),
            "one-hot",
        ),
        "1-based labels": (write_npz(tmp / "gap.npz", x_train=x, y_train=y + 1), "class 0"),
        "fractional labels": (
            write_npz(tmp / "frac.npz", x_train=x, y_train=y / 2),
            "whole class numbers",
        ),
        "not images": (
            write_npz(tmp / "flat.npz", x_train=x.reshape(20, -1), y_train=y),
            "(N, H, W)",
        ),
    }
    return cases


def test_bad_npz_files_stop_automl_validate_with_one_line_naming_path_and_key(
    tmp_path: Path,
) -> None:
    for case, (path, words) in bad_npz_files(tmp_path).items():
        study = study_file(tmp_path, {"name": "npz", "path": str(path)})
        result = CliRunner().invoke(app, ["validate", str(study)])
        assert result.exit_code == 2, case
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), (case, result.output)
        assert str(path) in lines[0] and words in lines[0], (case, lines[0])
