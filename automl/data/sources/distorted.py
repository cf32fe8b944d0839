"""The distorted digits sources, `distorted_digits` (28x28 grayscale) and `distorted_digits_rgb`
(32x32 colour): images that `distortion` makes from scikit-learn's digits, kept in a cache.

The 1,797 source digits are split first, by class: a fifth for the test images, and of the rest
`validation_split` for the validation images, so that no validation or test image is a
distortion of a digit that training images are made from (validation then scores what the test
set does: digits never seen). A set is made once and kept as one .npz in the data cache
(`data_cache`), named by every option that changes a byte and by GENERATOR_VERSION; it is
written to a temporary file and renamed into place, so workers that make one set at the same
time each find a whole file or none.
"""

from __future__ import annotations

import contextlib
import os
import uuid
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from automl.data.sources.base import Images, Select, Summary, writable_home
from automl.spec.schema import DatasetSpec

CACHE_ENV = "AUTOML_DATA_CACHE"
KEYS = ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test")
TEST_SHARE = 0.2  # of each class's source digits, for the test images only
# The images of each split have their own random stream, and the held-out digits their seeds.
STREAMS = {"train": 0, "val": 1, "test": 2}
TEST_SEED, VALIDATION_SEED = 0, 1


@dataclass(frozen=True)
class Look:
    """One image of a set: its shape (height, width, channels) and how its description names
    it."""

    shape: tuple[int, int, int]
    kind: str


LOOKS = {
    "distorted_digits": Look((28, 28, 1), "grayscale"),
    "distorted_digits_rgb": Look((32, 32, 3), "colour"),
}


def data_cache() -> Path:
    """Where generated data sets are kept: $AUTOML_DATA_CACHE, else ~/.cache/automl/datasets
    (under /tmp when the home folder is read-only, as Keras's cache does)."""
    folder = os.environ.get(CACHE_ENV)
    if folder:
        return Path(folder).expanduser()
    return writable_home() / ".cache" / "automl" / "datasets"


class Distorted:
    """A distorted digits set: described without generating it, generated (or read from the
    cache) when read."""

    def __init__(self, spec: DatasetSpec) -> None:
        self.spec = spec
        self.look = LOOKS[spec.name]
        validation = int(round(spec.train_size * spec.validation_split))
        self.sizes = {
            "train": spec.train_size - validation,
            "val": validation,
            "test": spec.test_size,
        }

    def check(self) -> Summary:
        sizes, (side, _, _) = self.sizes, self.look.shape
        description = (
            f"distorted digits, difficulty {self.spec.difficulty:g}: {sizes['train']:,} "
            f"training, {sizes['val']:,} validation and {sizes['test']:,} test {side}x{side} "
            f"{self.look.kind} images of 10 classes, made from scikit-learn's digits"
        )
        return Summary(
            description, 10, self.look.shape, 1, sizes["train"], sizes["val"] + sizes["test"]
        )

    def read(self, select: Select) -> Images:
        path = self.cached_path()
        arrays = _load(path)
        if arrays is None:
            arrays = self._make()
            _store(path, arrays)
        keep = select(arrays["y_train"])
        has_test = len(arrays["y_test"]) > 0
        return Images(
            x=arrays["x_train"][keep],
            y=arrays["y_train"][keep],
            class_names=tuple(str(i) for i in range(10)),
            input_scale=255.0,
            description=self.check().description,
            x_val=arrays["x_val"],
            y_val=arrays["y_val"],
            x_test=arrays["x_test"] if has_test else None,
            y_test=arrays["y_test"] if has_test else None,
        )

    def cached_path(self) -> Path:
        """The set's file in the cache: named by every option that changes its bytes."""
        from automl.data.sources.distortion import GENERATOR_VERSION

        spec = self.spec
        name = (
            f"{spec.name}-difficulty{spec.difficulty!r}-train{spec.train_size}"
            f"-validation{spec.validation_split!r}-test{spec.test_size}-v{GENERATOR_VERSION}.npz"
        )
        return data_cache() / name

    def _make(self) -> dict[str, np.ndarray]:
        # Imported here, not at the top: scipy (and sklearn.datasets, which brings it) would
        # slow every `automl validate`, which imports this module and never generates.
        from sklearn.datasets import load_digits

        from automl.data.sources.distortion import generate, hold_out

        digits = load_digits()
        labels = digits.target.astype(np.int64)
        kept, test = hold_out(labels, TEST_SHARE, TEST_SEED)
        fit, val = hold_out(labels[kept], self.spec.validation_split, VALIDATION_SEED)
        bases_of = {"train": kept[fit], "val": kept[val], "test": test}
        arrays = {}
        for split, bases in bases_of.items():
            x, y = generate(
                digits.images[bases],
                labels[bases],
                self.sizes[split],
                self.spec.difficulty,
                self.look.shape,
                STREAMS[split],
            )
            arrays[f"x_{split}"], arrays[f"y_{split}"] = x, y
        return arrays


def _load(path: Path) -> dict[str, np.ndarray] | None:
    """The cached arrays, or None when there is no whole file to read (a damaged one is made
    again)."""
    try:
        with np.load(path) as archive:
            return {key: archive[key] for key in KEYS}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None


def _store(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write the arrays to a temporary file beside `path` and rename it into place; a cache
    that cannot be written is a warning, not an error (the set is made again next time)."""
    # Opened with open(), not tempfile's 0600 files: the cache keeps the umask's permissions,
    # so the users of a shared cache can read each other's sets.
    temp = path.parent / f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(temp, "xb") as fp:
            np.savez(fp, allow_pickle=False, **arrays)
            fp.flush()
            os.fsync(fp.fileno())
        os.replace(temp, path)
    except OSError as exc:
        warnings.warn(
            f"cannot keep {path.name} in {path.parent} ({exc}); set {CACHE_ENV} to a writable "
            "folder, or the set is made again each time it is loaded",
            stacklevel=2,
        )
    finally:
        with contextlib.suppress(OSError):  # gone once renamed; left by a failed write
            temp.unlink()
