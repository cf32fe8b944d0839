"""The IDX source: Fashion-MNIST's four gzipped IDX files, as keras.datasets downloads them.

IDX is the MNIST file format: a header of sizes, then the bytes. The check reads the four
headers only; the read decompresses the four files.
"""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

from automl.data.sources.base import (
    Images,
    KerasSet,
    Select,
    Summary,
    as_labels,
    check_classes,
    check_splittable,
)
from automl.errors import DataError


class Idx:
    """Fashion-MNIST's four gzipped IDX files (the MNIST file format)."""

    def __init__(self, folder: Path, keras_set: KerasSet) -> None:
        self.folder = folder
        self.keras_set = keras_set

    def check(self) -> Summary:
        """The four headers (byte IDX files, images (N, H, W) matching N labels) and the
        training labels (a byte each): every class 0..9 present, twice or more."""
        labels, images, test_labels, test_images = (
            _open_idx(self.folder / f, header_only=True)[0] for f in self.keras_set.files
        )
        for x, y, kind in ((images, labels, "train"), (test_images, test_labels, "t10k")):
            if len(x) != 3 or len(y) != 1 or x[0] != y[0]:
                raise DataError(
                    f"{self.folder}: the {kind} images {x} do not match the {kind} labels {y}"
                )
        where = self.folder / self.keras_set.files[0]
        train_labels = as_labels(_read_idx(where), "train labels", where)
        names = self.keras_set.class_names
        check_classes(train_labels, len(names), where)
        check_splittable(train_labels, names, where)
        return Summary(
            f"{self.keras_set.title} from {self.folder}, 10 classes",
            len(names),
            (images[1], images[2], 1),
            1,
            train=images[0],
            held_out=test_images[0],
        )

    def read(self, select: Select) -> Images:
        y_train, x_train, y_test, x_test = (
            _read_idx(self.folder / f) for f in self.keras_set.files
        )
        y = as_labels(y_train, "train labels", self.folder)
        keep = select(y)
        return Images(
            x=x_train[keep],
            y=y[keep],
            class_names=self.keras_set.class_names,
            input_scale=255.0,
            description=f"{self.keras_set.title} from {self.folder}",
            x_test=x_test.copy(),  # frombuffer's arrays are read-only views of the file
            y_test=as_labels(y_test, "test labels", self.folder),
        )


def _read_idx(path: Path) -> np.ndarray:
    """A gzipped IDX file of bytes, as an array of the shape its header gives."""
    dims, data = _open_idx(path, header_only=False)
    values = np.frombuffer(data, dtype=np.uint8)
    if values.size != int(np.prod(dims)):
        raise DataError(f"{path}: holds {values.size} bytes of data, its header says {dims}")
    return values.reshape(dims)


def _open_idx(path: Path, header_only: bool) -> tuple[tuple[int, ...], bytes]:
    """An IDX file's sizes and (unless `header_only`) its data: 0, 0, 0x08 (bytes), the
    number of dimensions, each size as a big-endian 32-bit integer, then the values."""
    try:
        with gzip.open(path, "rb") as f:
            head = f.read(4)
            if len(head) < 4 or head[:3] != b"\x00\x00\x08":
                raise DataError(f"{path}: not an IDX file of bytes (it starts {head!r})")
            dims = struct.unpack(f">{head[3]}I", f.read(4 * head[3]))
            return dims, b"" if header_only else f.read()
    except (OSError, EOFError, struct.error) as exc:
        raise DataError(f"{path}: not a gzipped IDX file ({exc})") from None
