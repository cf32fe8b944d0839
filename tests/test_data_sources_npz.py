"""The npz source: files in mnist.npz's layout and variations of it, and the one-line error of
each broken file."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from automl.cli.app import app
from automl.data.dataset import check_dataset, load_dataset
from automl.errors import DataError
from tests.data_files import mnist_arrays, refused_line, spec, study_file, write_npz


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


def _truncated_npz(path: Path, x: np.ndarray, y: np.ndarray) -> Path:
    """An npz whose x_train.npy header promises more images than its bytes hold."""
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, x)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("x_train.npy", buffer.getvalue()[: -x[0].nbytes * 3])
        labels = io.BytesIO()
        np.lib.format.write_array(labels, y)
        archive.writestr("y_train.npy", labels.getvalue())
    return path


def nonsense_npz_files(tmp: Path) -> dict[str, tuple[Path, str]]:
    """Readable npz files whose data would train into nonsense, and the words of their error."""
    good = mnist_arrays(n_train=20, n_test=10, side=8)
    x, y = good["x_train"].astype(np.float32), good["y_train"]
    with_nan, with_inf, with_neg_inf = x.copy(), x.astype(np.float64), x.astype(np.float16)
    with_nan[7, 3, 3], with_inf[2, 0, 0], with_neg_inf[9, 1, 1] = np.nan, np.inf, -np.inf
    big = np.stack([np.zeros((10, 10), np.uint8)] * 10)
    files = {
        "NaN pixel": ({"x_train": with_nan, "y_train": y}, "x_train holds nan (image 7)"),
        "inf pixel in x_val": (
            {"x_train": x, "y_train": y, "x_val": with_inf, "y_val": y},
            "x_val holds inf (image 2)",
        ),
        "-inf pixel in x_test": (
            {"x_train": x, "y_train": y, "x_test": with_neg_inf, "y_test": y},
            "x_test holds -inf (image 9)",
        ),
        "one class": ({"x_train": x, "y_train": np.zeros(20, int)}, "a classifier needs two"),
        "one class named": (
            {"x_train": x, "y_train": np.zeros(20), "class_names": np.array(["cat"])},
            "every training image has label 0",
        ),
        "x_val of another size": (
            {"x_train": x, "y_train": y, "x_val": big, "y_val": y[:10]},
            "x_val images are 10x10, x_train's 8x8",
        ),
        "x_test of another size": (
            {"x_train": x, "y_train": y, "x_test": big, "y_test": y[:10]},
            "x_test images are 10x10",
        ),
        "a class of one image": (
            {"x_train": x[:3], "y_train": np.array([0, 0, 1])},
            "class 1 has 1 training image; the validation split needs at least 2",
        ),
        "empty x_val": (
            {"x_train": x, "y_train": y, "x_val": x[:0], "y_val": y[:0]},
            "x_val holds no images",
        ),
        "a label of a billion": (
            {"x_train": x[:2], "y_train": np.array([0, 10**9])},
            "no image of class 1, 2, 3, 4, 5, ...",
        ),
        "NaN label": ({"x_train": x, "y_train": np.where(y == 3, np.nan, y)}, "NaN or inf"),
        "fraction label": ({"x_train": x, "y_train": y + 0.5}, "got 0.5"),
        "negative y_val": (
            {"x_train": x, "y_train": y, "x_val": x, "y_val": y.astype(int) - 1},
            "y_val holds label -1",
        ),
    }
    cases = {
        case: (write_npz(tmp / f"{i}.npz", **arrays), words)
        for i, (case, (arrays, words)) in enumerate(files.items())
    }
    cases["fewer bytes than its shape"] = (
        _truncated_npz(tmp / "torn.npz", x, y),
        "x_train holds fewer bytes than its shape (20, 8, 8)",
    )
    return cases


@pytest.mark.parametrize("command", ["validate", "run"])
def test_npz_data_that_would_train_into_nonsense_is_refused_before_a_study_exists(
    tmp_path: Path, command: str
) -> None:
    for case, (path, words) in nonsense_npz_files(tmp_path).items():
        line = refused_line(tmp_path, {"name": "npz", "path": str(path)}, command, case)
        assert str(path) in line and words in line, (case, line)


def test_splits_of_other_sizes_are_fine_once_image_size_is_set(tmp_path: Path) -> None:
    good = mnist_arrays(n_train=20, n_test=10, side=8)
    big = np.stack([np.zeros((10, 10), np.uint8)] * 10)
    path = write_npz(tmp_path / "sizes.npz", **{**good, "x_test": big})
    data = load_dataset(spec(name="npz", path=str(path), image_size=[6, 6]))
    assert data.x_test is not None and data.x_test.shape == (10, 6, 6, 1)


def test_the_finite_check_reads_a_large_float_array_in_bounded_memory(tmp_path: Path) -> None:
    x = np.zeros((4_000, 32, 32, 3), np.float32)  # 47 MiB: read 16 MiB at a time
    x[-1, -1, -1, -1] = np.nan
    path = write_npz(tmp_path / "large.npz", x_train=x, y_train=np.arange(4_000) % 2)
    with pytest.raises(DataError, match=r"x_train holds nan \(image 3999\)"):
        check_dataset(spec(name="npz", path=str(path)))
