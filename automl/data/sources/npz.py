"""Where a data set's images come from, and the checks its files must pass.

Sources (`dataset.name`): scikit-learn's `digits`; Keras's `mnist`, `fashion_mnist`, `cifar10`
and `cifar100`, read from `dataset.path` or the Keras cache and downloaded by
`keras.datasets.<name>.load_data` when missing; `npz` (the layout of Keras's mnist.npz); and
`folder` (one subfolder of images per class).

Each source checks its files without decoding pixels and without TensorFlow (numpy and PIL
only), then reads them. Keras's files are read here rather than by `load_data`, which trusts
only a file whose hash matches the download (anything else is downloaded again, and deleted when
that fails offline), cannot read a copy kept elsewhere, and imports TensorFlow. It still does
the downloading, with its own URLs, hashes and cache layout.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from automl.data.sources.base import (
    Images,
    Select,
    Summary,
    _channels,
    _check_classes,
    _check_in_range,
    _input_scale,
    _labels,
)
from automl.errors import DataError

# ---------------------------------------------------------------------------- npz

NPZ_KEYS = ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test", "class_names")


class _Npz:
    """x_train, y_train and optionally x_val/y_val, x_test/y_test and class_names in one .npz."""

    def __init__(
        self, path: Path, title: str = "npz", class_names: tuple[str, ...] | None = None
    ) -> None:
        self.path = path
        self.title = title
        self.class_names = class_names  # given by the data set (mnist); else from the file
        self.num_classes = 0  # known once checked

    def check(self) -> Summary:
        path = self.path
        if not path.exists():
            raise DataError(f"dataset.path: no such file: {path}")
        if not path.is_file() or not zipfile.is_zipfile(path):
            raise DataError(
                f"dataset.path: {path} is not an npz file (numpy.savez's zip of arrays "
                "x_train, y_train, ...)"
            )
        try:
            with np.load(path, allow_pickle=False) as archive:
                keys = list(archive.files)
                for key in ("x_train", "y_train"):
                    if key not in keys:
                        raise DataError(
                            f"{path}: missing key {key!r} (has {', '.join(keys) or 'none'})"
                        )
                for key in keys:
                    if key not in NPZ_KEYS:
                        raise DataError(
                            f"{path}: unknown key {key!r}; an npz holds x_train, y_train and "
                            "optionally x_val, y_val, x_test, y_test, class_names"
                        )
                for x_key, y_key in (("x_val", "y_val"), ("x_test", "y_test")):
                    if (x_key in keys) != (y_key in keys):
                        have, lack = (x_key, y_key) if x_key in keys else (y_key, x_key)
                        raise DataError(
                            f"{path}: has {have!r} but not {lack!r}; give both or neither"
                        )
                shapes = {k: self._header(archive, k) for k in keys if k.startswith("x_")}
                labels = {k: _labels(archive[k], k, path) for k in keys if k.startswith("y_")}
                names = self._names(archive, keys)
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
            raise DataError(f"{path}: cannot read the npz file ({exc})") from None
        train = shapes["x_train"][0]
        if len(train) and train[0] == 0:
            raise DataError(f"{path}: x_train holds no images")
        for key, (shape, dtype) in shapes.items():
            if len(shape) not in (3, 4) or (len(shape) == 4 and shape[3] < 1):
                raise DataError(
                    f"{path}: {key} must be images of shape (N, H, W) or (N, H, W, C), got {shape}"
                )
            if dtype.kind not in "uif":
                raise DataError(f"{path}: {key} must hold numbers, got dtype {dtype}")
            y_key = "y" + key[1:]
            if shape[0] != len(labels[y_key]):
                raise DataError(
                    f"{path}: {key} holds {shape[0]} images but {y_key} {len(labels[y_key])} labels"
                )
            if _channels(shape) != _channels(train):
                raise DataError(
                    f"{path}: {key} images have {_channels(shape)} channels, x_train's "
                    f"{_channels(train)}"
                )
        num_classes = len(names) if names is not None else int(labels["y_train"].max()) + 1
        _check_classes(labels["y_train"], num_classes, path)
        for key in ("y_val", "y_test"):
            if key in labels:
                _check_in_range(labels[key], key, num_classes, path)
        self.num_classes = num_classes
        h, w = train[1:3]
        extra = "".join(
            f", {shapes[k][0][0]:,} {k[2:]}" for k in ("x_val", "x_test") if k in shapes
        )
        return Summary(
            f"{self.title} {path}: {train[0]:,} training images {h}x{w}x{_channels(train)} "
            f"{shapes['x_train'][1]}, {num_classes} classes{extra}",
            num_classes,
        )

    @staticmethod
    def _header(archive: Any, key: str) -> tuple[tuple[int, ...], np.dtype[Any]]:
        """An array's shape and dtype from its .npy header, without reading the array."""
        with archive.zip.open(f"{key}.npy") as fp:
            version = np.lib.format.read_magic(fp)
            read = (
                np.lib.format.read_array_header_1_0
                if version == (1, 0)
                else np.lib.format.read_array_header_2_0
            )
            shape, _, dtype = read(fp)
        return tuple(shape), dtype

    def _names(self, archive: Any, keys: list[str]) -> tuple[str, ...] | None:
        if "class_names" not in keys:
            return self.class_names
        names = archive["class_names"]
        if names.ndim != 1 or names.dtype.kind not in "US":
            raise DataError(f"{self.path}: class_names must be a list of strings")
        return tuple(str(n) for n in names)

    def read(self, select: Select) -> Images:
        with np.load(self.path, allow_pickle=False) as archive:
            y = _labels(archive["y_train"], "y_train", self.path)
            x_all = archive["x_train"]
            scale = _input_scale(x_all)
            keep = select(y)
            x = x_all[keep]
            del x_all
            names = self._names(archive, list(archive.files))
            parts: dict[str, np.ndarray] = {}
            for part in ("val", "test"):
                if f"x_{part}" in archive.files:
                    parts[f"x_{part}"] = archive[f"x_{part}"]
                    parts[f"y_{part}"] = _labels(archive[f"y_{part}"], f"y_{part}", self.path)
        return Images(
            x=x,
            y=y[keep],
            class_names=names or tuple(str(i) for i in range(self.num_classes)),
            input_scale=scale,
            description=f"{self.title} {self.path}",
            **parts,
        )
