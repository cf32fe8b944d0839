"""The distorted digits sets: their shapes, the same bytes for the same options, source digits
kept apart between the splits, the cache (used, written whole or not at all), and their options'
mistakes as one line. Small sets (a few hundred images) in a cache under tmp_path."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage
from sklearn.datasets import load_digits

from automl.data.dataset import Dataset, check_dataset, load_dataset
from automl.data.sources import distorted, distortion
from automl.data.sources.distorted import Distorted
from automl.spec.schema import DatasetSpec
from tests.data_files import refused_line, spec


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty data cache for this test only."""
    folder = tmp_path / "cache"
    monkeypatch.setenv(distorted.CACHE_ENV, str(folder))
    # load_dataset remembers a data set by its spec, not by the cache it was read from.
    load_dataset.cache_clear()
    return folder


def small(name: str = "distorted_digits", **options: object) -> DatasetSpec:
    return spec(name=name, train_size=300, test_size=100, **options)


def splits(data: Dataset) -> list[np.ndarray]:
    assert data.x_test is not None
    return [data.x_train, data.x_val, data.x_test]


@pytest.mark.parametrize(
    ("name", "shape"), [("distorted_digits", (28, 28, 1)), ("distorted_digits_rgb", (32, 32, 3))]
)
def test_shapes_dtypes_and_sizes(cache: Path, name: str, shape: tuple[int, ...]) -> None:
    data = load_dataset(small(name))
    assert data.input_shape == shape and data.x_train.dtype == np.uint8
    assert data.input_scale == 255.0 and data.class_names == tuple(str(i) for i in range(10))
    assert (len(data.y_train), len(data.y_val)) == (240, 60)
    assert data.x_test is not None and data.y_test is not None
    assert data.x_test.shape == (100, *shape) and data.y_test.dtype == np.int64
    # Every split has each class about as often as the others.
    assert np.bincount(data.y_train).tolist() == [24] * 10
    assert np.bincount(data.y_test).tolist() == [10] * 10
    assert check_dataset(small(name)).startswith("distorted digits, difficulty 1: 240 training")


def test_test_size_0_leaves_no_test_set(cache: Path) -> None:
    data = load_dataset(spec(name="distorted_digits", train_size=50, test_size=0))
    assert data.x_test is None and data.y_test is None and len(data.y_val) == 10


def test_the_same_options_give_the_same_bytes(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = [x.copy() for x in splits(load_dataset(small()))]
    again = [x.copy() for x in splits(load_dataset(small(difficulty=0.9)))]
    assert first[0].tobytes() != again[0].tobytes()  # another difficulty, other images
    monkeypatch.setenv(distorted.CACHE_ENV, str(tmp_path / "another"))
    load_dataset.cache_clear()
    made_again = splits(load_dataset(small()))  # generated afresh in another cache
    assert [x.tobytes() for x in made_again] == [x.tobytes() for x in first]
    monkeypatch.setenv(distorted.CACHE_ENV, str(cache))
    load_dataset.cache_clear()
    from_cache = splits(load_dataset(small()))
    assert [x.tobytes() for x in from_cache] == [x.tobytes() for x in first]


# The first 16 hex digits of the sha256 of test_the_bytes_are_pinned's images and labels.
PINNED = "0b378000a086d3e2"


def test_the_bytes_are_pinned() -> None:
    """Bytes that change on another machine, or after an edit, break the promise that a set is
    the same everywhere: a deliberate change bumps GENERATOR_VERSION (and this digest)."""
    digits = load_digits()
    digest = hashlib.sha256()
    for shape in ((28, 28, 1), (32, 32, 3)):
        x, y = distortion.generate(digits.images, digits.target, 300, 1.0, shape, 0)
        digest.update(x.tobytes() + y.tobytes())
    assert (distortion.GENERATOR_VERSION, digest.hexdigest()[:16]) == (1, PINNED)


def upsampled(digits: np.ndarray) -> np.ndarray:
    """The plain digits as difficulty 0 should show them: a cubic zoom to 20x20 in 28x28."""
    zoomed = [
        ndimage.zoom(d / 16, 20 / 8, order=3, grid_mode=True, mode="grid-constant") for d in digits
    ]
    plain = np.pad(np.clip(np.stack(zoomed), 0, 1), ((0, 0), (4, 4), (4, 4)))
    return np.floor(plain * 255 + 0.5)


def nearest(images: np.ndarray, plain: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The index of the plain digit nearest each image, and the largest pixel gap to it."""
    a = images[..., 0].reshape(len(images), -1).astype(np.float64)
    b = plain.reshape(len(plain), -1)
    squared = (a * a).sum(1)[:, None] + (b * b).sum(1)[None] - 2 * a @ b.T
    index = squared.argmin(axis=1)
    return index, np.abs(a - b[index]).max(axis=1)


def sources(images: np.ndarray, plain: np.ndarray) -> np.ndarray:
    """The index of the plain digit each image shows, checked to be that digit (give or take
    a rounding)."""
    index, gap = nearest(images, plain)
    assert gap.max() <= 1
    return index


def test_difficulty_0_shows_the_upsampled_digits_each_split_its_own(cache: Path) -> None:
    digits = load_digits()
    plain = upsampled(digits.images)
    data = load_dataset(small(difficulty=0))
    found = [sources(x, plain) for x in splits(data)]
    for shown, labels in zip(found, [data.y_train, data.y_val, data.y_test], strict=True):
        assert (digits.target[shown] == labels).all()
    train, val, test = (set(f.tolist()) for f in found)
    assert not train & val and not train & test and not val & test
    # At difficulty 1 no image is its digit any more.
    assert nearest(load_dataset(small()).x_train, plain)[1].min() > 20

    colour = load_dataset(small("distorted_digits_rgb", difficulty=0)).x_train
    assert (colour == colour[..., :1]).all()  # white on black, as the grayscale set


def test_a_second_load_reads_the_cache(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = load_dataset(small())
    (stored,) = cache.iterdir()
    assert stored.name.endswith(f"-v{distortion.GENERATOR_VERSION}.npz") and "difficulty1.0" in (
        stored.name
    )

    def refuse(*args: object) -> None:
        raise AssertionError("generated again")

    monkeypatch.setattr(distortion, "generate", refuse)
    load_dataset.cache_clear()
    assert load_dataset(small()).x_train.tobytes() == first.x_train.tobytes()
    with pytest.raises(AssertionError, match="generated again"):
        load_dataset(small(difficulty=0.5))


def test_a_failed_write_leaves_no_file_and_a_warning(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full_disk(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "savez", full_disk)
    with pytest.warns(UserWarning, match=r"cannot keep distorted_digits-.*No space left"):
        data = load_dataset(small())
    assert len(data.y_train) == 240
    assert list(cache.iterdir()) == []  # neither the set nor its temporary file


def test_a_cache_that_is_a_file_is_a_warning(cache: Path) -> None:
    cache.parent.mkdir(exist_ok=True)
    cache.write_text("not a folder")
    with pytest.warns(UserWarning, match=distorted.CACHE_ENV):
        assert len(load_dataset(small()).y_val) == 60


def test_a_damaged_cache_file_is_made_again(cache: Path) -> None:
    source = Distorted(small())
    path = source.cached_path()
    path.parent.mkdir(parents=True)
    path.write_bytes(b"PK\x03\x04 not a whole zip")
    assert len(load_dataset(small()).y_train) == 240
    assert path.stat().st_size > 100_000


def test_validate_imports_neither_scipy_nor_tensorflow_and_generating_no_tensorflow(
    cache: Path,
) -> None:
    code = (
        "import sys\n"
        "from automl.data.dataset import check_dataset\n"
        "from automl.data.sources.locate import locate\n"
        "from automl.spec.schema import DatasetSpec\n"
        "spec = DatasetSpec(name='distorted_digits_rgb', train_size=100, test_size=20)\n"
        "check_dataset(spec, fetch=False)\n"
        "assert 'scipy' not in sys.modules and 'tensorflow' not in sys.modules\n"
        "locate(spec, None).read(lambda y: slice(None))\n"
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


@pytest.mark.parametrize(
    ("dataset", "expected"),
    [
        (
            {"name": "distorted_digits", "difficulty": -1},
            "dataset.difficulty: must be a number >= 0, got -1",
        ),
        (
            {"name": "distorted_digits_rgb", "train_size": 5},
            "dataset.train_size: must be an integer >= 20, got 5",
        ),
        (
            {"name": "digits", "test_size": 100},
            "dataset.test_size: only distorted_digits and distorted_digits_rgb take it, not digits",
        ),
    ],
)
def test_a_bad_option_is_one_line_and_exit_code_2(
    tmp_path: Path, dataset: dict[str, object], expected: str
) -> None:
    line = refused_line(tmp_path, dataset, "validate", expected)
    assert line.endswith(f": {expected}"), line
