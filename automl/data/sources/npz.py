"""The npz source: numpy.savez's zip of arrays, in the layout of Keras's mnist.npz.

`x_train` and `y_train`, and optionally `x_val`/`y_val`, `x_test`/`y_test` and `class_names`.
The check reads each image array's .npy header (shape and dtype) and every label array, never
the images themselves. Keras's mnist.npz is read by this source too.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import IO, Any

import numpy as np

from automl.data.sources.base import (
    Images,
    Select,
    Summary,
    as_labels,
    channels,
    check_classes,
    check_in_range,
    check_splittable,
    input_scale,
)
from automl.errors import DataError

# How much of a float image array the check reads at a time, looking for NaN and inf.
CHUNK_BYTES = 1 << 24

NPZ_KEYS = ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test", "class_names")

# An array's shape and dtype, as its .npy header gives them.
Header = tuple[tuple[int, ...], np.dtype[Any]]


class Npz:
    """x_train, y_train and optionally x_val/y_val, x_test/y_test and class_names in one .npz."""

    def __init__(
        self,
        path: Path,
        title: str = "npz",
        class_names: tuple[str, ...] | None = None,
        resized: bool = False,
    ) -> None:
        self.path = path
        self.title = title
        self.class_names = class_names  # given by the data set (mnist); else from the file
        self.resized = resized  # dataset.image_size is set: the splits may differ in size
        self.num_classes = 0  # known once checked

    def check(self) -> Summary:
        _check_is_npz(self.path)
        shapes, labels, names = self._headers()
        train = shapes["x_train"][0]
        for key in sorted(shapes, key=lambda k: k != "x_train"):  # x_train's shape first
            shape, dtype = shapes[key]
            _check_images(self.path, key, shape, dtype, train, len(labels["y" + key[1:]]))
            if not self.resized and shape[1:3] != train[1:3]:
                raise DataError(
                    f"{self.path}: {key} images are {shape[1]}x{shape[2]}, x_train's "
                    f"{train[1]}x{train[2]}; give one size or set dataset.image_size"
                )
        num_classes = len(names) if names is not None else int(labels["y_train"].max()) + 1
        check_classes(labels["y_train"], num_classes, self.path)
        if "x_val" not in shapes:
            check_splittable(labels["y_train"], names, self.path)
        for key in ("y_val", "y_test"):
            if key in labels:
                check_in_range(labels[key], key, num_classes, self.path)
        self.num_classes = num_classes
        return Summary(
            self._describe(shapes, num_classes),
            num_classes,
            shape=(train[1], train[2], channels(train)),
            itemsize=shapes["x_train"][1].itemsize,
            train=train[0],
            held_out=sum(shapes[k][0][0] for k in ("x_val", "x_test") if k in shapes),
        )

    def read(self, select: Select) -> Images:
        with np.load(self.path, allow_pickle=False) as archive:
            y = as_labels(archive["y_train"], "y_train", self.path)
            x_all = archive["x_train"]
            scale = input_scale(x_all)
            keep = select(y)
            x = x_all[keep]
            del x_all
            names = self._names(archive, list(archive.files))
            parts: dict[str, np.ndarray] = {}
            for part in ("val", "test"):
                if f"x_{part}" in archive.files:
                    parts[f"x_{part}"] = archive[f"x_{part}"]
                    parts[f"y_{part}"] = as_labels(archive[f"y_{part}"], f"y_{part}", self.path)
        return Images(
            x=x,
            y=y[keep],
            class_names=names or tuple(str(i) for i in range(self.num_classes)),
            input_scale=scale,
            description=f"{self.title} {self.path}",
            **parts,
        )

    def _headers(
        self,
    ) -> tuple[dict[str, Header], dict[str, np.ndarray], tuple[str, ...] | None]:
        """The image arrays' headers, the label arrays and the class names, by key."""
        path = self.path
        try:
            with np.load(path, allow_pickle=False) as archive:
                keys = list(archive.files)
                _check_keys(path, keys)
                shapes = {k: _header(archive, k) for k in keys if k.startswith("x_")}
                for key, (_, dtype) in shapes.items():
                    if dtype.kind == "f":
                        _check_finite(archive, key, path)
                labels = {k: as_labels(archive[k], k, path) for k in keys if k.startswith("y_")}
                names = self._names(archive, keys)
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
            raise DataError(f"{path}: cannot read the npz file ({exc})") from None
        return shapes, labels, names

    def _names(self, archive: Any, keys: list[str]) -> tuple[str, ...] | None:
        if "class_names" not in keys:
            return self.class_names
        names = archive["class_names"]
        if names.ndim != 1 or names.dtype.kind not in "US":
            raise DataError(f"{self.path}: class_names must be a list of strings")
        return tuple(str(n) for n in names)

    def _describe(self, shapes: dict[str, Header], num_classes: int) -> str:
        train, dtype = shapes["x_train"]
        h, w = train[1:3]
        extra = "".join(
            f", {shapes[k][0][0]:,} {k[2:]}" for k in ("x_val", "x_test") if k in shapes
        )
        return (
            f"{self.title} {self.path}: {train[0]:,} training images {h}x{w}x{channels(train)} "
            f"{dtype}, {num_classes} classes{extra}"
        )


def _check_is_npz(path: Path) -> None:
    if not path.exists():
        raise DataError(f"dataset.path: no such file: {path}")
    if not path.is_file() or not zipfile.is_zipfile(path):
        raise DataError(
            f"dataset.path: {path} is not an npz file (numpy.savez's zip of arrays "
            "x_train, y_train, ...)"
        )


def _check_keys(path: Path, keys: list[str]) -> None:
    """x_train and y_train present, nothing unknown, and x_val/x_test only with their labels."""
    for key in ("x_train", "y_train"):
        if key not in keys:
            raise DataError(f"{path}: missing key {key!r} (has {', '.join(keys) or 'none'})")
    for key in keys:
        if key not in NPZ_KEYS:
            raise DataError(
                f"{path}: unknown key {key!r}; an npz holds x_train, y_train and "
                "optionally x_val, y_val, x_test, y_test, class_names"
            )
    for x_key, y_key in (("x_val", "y_val"), ("x_test", "y_test")):
        if (x_key in keys) != (y_key in keys):
            have, lack = (x_key, y_key) if x_key in keys else (y_key, x_key)
            raise DataError(f"{path}: has {have!r} but not {lack!r}; give both or neither")


def _check_images(
    path: Path,
    key: str,
    shape: tuple[int, ...],
    dtype: np.dtype[Any],
    train: tuple[int, ...],
    num_labels: int,
) -> None:
    """One image array: images of numbers, one per label, with x_train's channels."""
    if len(shape) not in (3, 4) or (len(shape) == 4 and shape[3] < 1):
        raise DataError(
            f"{path}: {key} must be images of shape (N, H, W) or (N, H, W, C), got {shape}"
        )
    if dtype.kind not in "uif":
        raise DataError(f"{path}: {key} must hold numbers, got dtype {dtype}")
    if shape[0] == 0 or 0 in shape[1:]:
        raise DataError(f"{path}: {key} holds no images (shape {shape})")
    if shape[0] != num_labels:
        raise DataError(f"{path}: {key} holds {shape[0]} images but y{key[1:]} {num_labels} labels")
    if channels(shape) != channels(train):
        raise DataError(
            f"{path}: {key} images have {channels(shape)} channels, x_train's {channels(train)}"
        )


def _header(archive: Any, key: str) -> Header:
    """An array's shape and dtype from its .npy header, without reading the array; its file
    must hold as many bytes as the header says."""
    name = f"{key}.npy"
    with archive.zip.open(name) as fp:
        shape, _, dtype = _read_header(fp)
        start = fp.tell()
    needed = start + int(np.prod(shape, dtype=np.float64)) * dtype.itemsize
    if archive.zip.getinfo(name).file_size < needed:
        raise DataError(f"{archive.zip.filename}: {key} holds fewer bytes than its shape {shape}")
    return tuple(shape), dtype


def _read_header(fp: IO[bytes]) -> tuple[tuple[int, ...], bool, np.dtype[Any]]:
    """A .npy header: the shape, whether Fortran-ordered, the dtype."""
    version = np.lib.format.read_magic(fp)
    read = (
        np.lib.format.read_array_header_1_0
        if version == (1, 0)
        else np.lib.format.read_array_header_2_0
    )
    shape, fortran, dtype = read(fp)
    return tuple(shape), fortran, dtype


def _check_finite(archive: Any, key: str, path: Path) -> None:
    """Float images hold no NaN or inf: read a chunk at a time, so memory stays bounded."""
    with archive.zip.open(f"{key}.npy") as fp:
        shape, fortran, dtype = _read_header(fp)
        per_image = int(np.prod(shape[1:], dtype=np.int64)) or 1
        step = max(1, CHUNK_BYTES // dtype.itemsize) * dtype.itemsize
        seen = 0
        while chunk := fp.read(step):
            values = np.frombuffer(chunk, dtype=dtype, count=len(chunk) // dtype.itemsize)
            bad = np.flatnonzero(~np.isfinite(values))
            if len(bad):
                where = "" if fortran else f" (image {(seen + int(bad[0])) // per_image})"
                raise DataError(
                    f"{path}: {key} holds {values[bad[0]]}{where}; pixels must be finite numbers"
                )
            seen += len(values)
