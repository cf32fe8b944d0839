"""Data sets as arrays in the form the data set stores them, split once, loaded once per process.

Images stay raw (digits: 0..16, photos: 0..255); the model rescales them itself, so a saved
model takes the same raw inputs. The split is stratified and seeded, the same for every trial.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from automl.errors import DataError
from automl.spec import DatasetSpec

if TYPE_CHECKING:
    import tensorflow as tf


@dataclass(frozen=True, eq=False)
class Dataset:
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray | None
    y_test: np.ndarray | None
    class_names: tuple[str, ...]
    input_scale: float  # the largest raw value: the model divides by it
    description: str

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(int(s) for s in self.x_train.shape[1:])

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


@dataclass(frozen=True, eq=False)
class Images:
    """A data set as loaded, before the split: training images and an optional test set."""

    x: np.ndarray
    y: np.ndarray
    class_names: tuple[str, ...]
    input_scale: float
    description: str
    x_test: np.ndarray | None = None
    y_test: np.ndarray | None = None
    x_val: np.ndarray | None = None
    y_val: np.ndarray | None = None


def _load_digits(spec: DatasetSpec) -> Images:
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = digits.images[..., None].astype(np.float32)  # (1797, 8, 8, 1), values 0..16
    return Images(
        x=x,
        y=digits.target.astype(np.int64),
        class_names=tuple(str(i) for i in range(10)),
        input_scale=16.0,
        description="scikit-learn digits: 1,797 8x8 grayscale images, values 0-16, 10 classes",
    )


LOADERS: dict[str, Any] = {"digits": _load_digits}


@functools.lru_cache(maxsize=4)
def load_dataset(spec: DatasetSpec, seed: int = 0) -> Dataset:
    """Load and split a data set; cached so a worker loads it once for all its trials."""
    loader = LOADERS.get(spec.name)
    if loader is None:
        raise DataError(f"dataset.name: {spec.name} is not available in this version")
    images = loader(spec)
    _check_labels(images)
    x, y = images.x, images.y
    if spec.max_samples is not None and spec.max_samples < len(y):
        x, y = _stratified_take(x, y, spec.max_samples, seed)
    if images.x_val is not None and images.y_val is not None:
        x_train, y_train, x_val, y_val = x, y, images.x_val, images.y_val
    else:
        x_train, y_train, x_val, y_val = split(x, y, spec.validation_split, seed)
    return Dataset(
        x_train=x_train,
        y_train=y_train,
        x_val=x_val,
        y_val=y_val,
        x_test=images.x_test,
        y_test=images.y_test,
        class_names=images.class_names,
        input_scale=images.input_scale,
        description=images.description,
    )


def _check_labels(images: Images) -> None:
    if len(images.x) != len(images.y):
        raise DataError(f"{len(images.x)} images but {len(images.y)} labels")
    n = len(images.class_names)
    if len(images.y) and (images.y.min() < 0 or images.y.max() >= n):
        raise DataError(f"labels must lie in 0..{n - 1}, got {images.y.min()}..{images.y.max()}")


def split(
    x: np.ndarray, y: np.ndarray, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A stratified, seeded split: `fraction` of each class goes to validation."""
    rng = np.random.default_rng(seed)
    val_idx: list[np.ndarray] = []
    for label in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == label))
        take = max(1, int(round(len(idx) * fraction))) if len(idx) > 1 else 0
        val_idx.append(idx[:take])
    val = np.sort(np.concatenate(val_idx)) if val_idx else np.array([], dtype=np.int64)
    mask = np.ones(len(y), dtype=bool)
    mask[val] = False
    train = rng.permutation(np.flatnonzero(mask))
    return x[train], y[train], x[val], y[val]


def _stratified_take(
    x: np.ndarray, y: np.ndarray, n: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    _, _, xs, ys = split(x, y, n / len(y), seed)
    return xs, ys


def pipelines(data: Dataset, batch_size: int, seed: int) -> tuple[tf.data.Dataset, tf.data.Dataset]:
    """Training and validation tf.data pipelines: cached, shuffled per epoch, prefetched."""
    import tensorflow as tf

    train = (
        tf.data.Dataset.from_tensor_slices((data.x_train, data.y_train))
        .cache()
        .shuffle(len(data.y_train), seed=seed, reshuffle_each_iteration=True)
        .batch(batch_size)
        .prefetch(tf.data.AUTOTUNE)
    )
    val = (
        tf.data.Dataset.from_tensor_slices((data.x_val, data.y_val))
        .batch(max(batch_size, 256))
        .cache()
        .prefetch(tf.data.AUTOTUNE)
    )
    return train, val
