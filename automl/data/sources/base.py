"""What every data source shares: the `Source` protocol, what a source reads and checks
(`Images`, `Summary`), the label and image checks the file formats all need, and `KerasSet`,
the description of a data set keras.datasets downloads (its files, and where they may lie).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from automl.errors import DataError

# Training labels -> the indices of the images to keep (the `max_samples` subset).
Select = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True, eq=False)
class Images:
    """A data set as read, before the split: training images and optional validation/test sets."""

    x: np.ndarray
    y: np.ndarray
    class_names: tuple[str, ...]
    input_scale: float
    description: str
    x_test: np.ndarray | None = None
    y_test: np.ndarray | None = None
    x_val: np.ndarray | None = None
    y_val: np.ndarray | None = None


@dataclass(frozen=True)
class Summary:
    """What a check learns without decoding pixels: enough to size the arrays and the split."""

    description: str
    num_classes: int
    shape: tuple[int, int, int]  # one image as the source holds it: (height, width, channels)
    itemsize: int  # bytes per value as the source holds it
    train: int  # training images
    held_out: int = 0  # validation and test images kept beside them


class Source(Protocol):
    """One format's files: checked without decoding pixels or TensorFlow, then read."""

    def check(self) -> Summary:
        """Raise DataError for anything wrong that shows without decoding pixels."""

    def read(self, select: Select) -> Images:
        """Read the images (only the selected training ones); call after `check`."""


# ------------------------------------------------------------------ checks shared by the sources


def as_labels(y: np.ndarray, key: str, where: Path) -> np.ndarray:
    """Class numbers as int64 of shape (N,), or a DataError naming the file and key."""
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        hint = " (one-hot? store the class numbers)" if y.ndim == 2 else ""
        raise DataError(
            f"{where}: {key} must hold one class number per image, shape (N,) or (N, 1), "
            f"got {y.shape}{hint}"
        )
    if y.dtype.kind == "f":
        if not np.all(np.isfinite(y)):
            raise DataError(f"{where}: {key} must hold whole class numbers, got NaN or inf")
        if np.any(y != np.round(y)):
            first = y[y != np.round(y)][0]
            raise DataError(f"{where}: {key} must hold whole class numbers, got {first:g}")
    elif y.dtype.kind not in "iu":
        raise DataError(f"{where}: {key} must hold class numbers, got dtype {y.dtype}")
    if len(y) and y.min() < 0:
        raise DataError(f"{where}: {key} holds label {y.min():g}; labels are 0 or more")
    return y.astype(np.int64)


def check_classes(y_train: np.ndarray, num_classes: int, where: Path) -> None:
    """Two classes or more, and every class 0..K-1 with a training image: a gap is a
    mislabelled set (1-based?)."""
    present = np.unique(y_train)
    if len(present) and present[-1] >= num_classes:
        raise DataError(
            f"{where}: y_train holds label {present[-1]}, out of range 0..{num_classes - 1} "
            "(the class_names given)"
        )
    if len(present) == num_classes and num_classes < 2:
        raise DataError(
            f"{where}: every training image has label {present[0] if len(present) else 0}; "
            "a classifier needs two classes or more"
        )
    if len(present) < num_classes:  # sorted, unique and in range: the gaps are what is missing
        have = set(present.tolist())
        missing = list(itertools.islice((c for c in range(num_classes) if c not in have), 6))
        shown = ", ".join(str(m) for m in missing[:5]) + (", ..." if len(missing) > 5 else "")
        raise DataError(
            f"{where}: y_train has no image of class {shown}; labels must run 0..K-1 "
            "with every class present (1-based labels? subtract 1)"
        )


def check_splittable(y_train: np.ndarray, names: tuple[str, ...] | None, where: Path) -> None:
    """Checked labels that a validation split can cut: every class needs two training images or
    more, one to validate on and one to train on (a set with a validation set of its own
    needs one)."""
    counts = np.bincount(y_train)
    label = int(np.argmin(counts))
    if counts[label] < 2:
        name = names[label] if names and label < len(names) else str(label)
        raise DataError(
            f"{where}: class {name} has {counts[label]} training image; the validation split "
            "needs at least 2 images of every class (one to validate on, one to train on)"
        )


def check_in_range(y: np.ndarray, key: str, num_classes: int, where: Path) -> None:
    """Validation and test labels must name classes of the training set."""
    if len(y) and y.max() >= num_classes:
        raise DataError(
            f"{where}: {key} holds label {y.max()}, out of range 0..{num_classes - 1} "
            "(the classes of y_train)"
        )


def input_scale(x: np.ndarray) -> float:
    """The largest raw value: 255 for 8-bit images, else the largest in the training images."""
    if x.dtype == np.uint8:
        return 255.0
    largest = float(x.max()) if x.size else 0.0
    return largest if largest > 0 else 1.0


def channels(shape: tuple[int, ...]) -> int:
    """The channels of images of shape (N, H, W) (one) or (N, H, W, C)."""
    return shape[3] if len(shape) == 4 else 1


# ------------------------------------------------------------------ caches


def writable_home() -> Path:
    """The home folder, or /tmp when it is read-only: where Keras falls back for its cache, and
    automl for the data sets it generates."""
    home = Path.home()
    return home if os.access(home, os.W_OK) else Path("/tmp")


# ------------------------------------------------------------------ Keras's data sets


@dataclass(frozen=True)
class KerasSet:
    """A data set keras.datasets downloads: the files it needs and where they may lie."""

    title: str
    files: tuple[str, ...]  # what the folder holding the set contains
    folder: str  # the folder inside the .tar.gz that holds `files` (CIFAR's archives)
    places: tuple[str, ...]  # under a base folder: where that folder (or an archive) may lie
    cache_folder: str  # where the files go under <KERAS_HOME>/datasets
    wanted: str  # what to put there, for messages
    packed: str = ""  # "zip" or "tar": one file may hold the whole set
    class_names: tuple[str, ...] = ()
    image: tuple[int, int, int] = (28, 28, 1)  # one image: (height, width, channels), bytes
    sizes: tuple[int, int] = (60_000, 10_000)  # training and test images
