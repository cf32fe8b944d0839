"""The CIFAR source: CIFAR-10's and CIFAR-100's python version, pickled batches kept in their
extracted folder or in their .tar.gz, as keras.datasets downloads them.

The batches are Python 2 pickles; they are unpickled by an unpickler that accepts plain data
and numpy arrays only, so a file that is not CIFAR's cannot run code.
"""

from __future__ import annotations

import pickle
import tarfile
from pathlib import Path
from typing import IO, Any

import numpy as np

from automl.data.sources.base import Images, KerasSet, Select, Summary, as_labels
from automl.errors import DataError


class _Unpickler(pickle.Unpickler):
    """Unpickles CIFAR's python batches: plain data and numpy arrays, nothing that runs code."""

    ALLOWED = {
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy._core.multiarray", "_reconstruct"),
    }

    def find_class(self, module: str, name: str) -> Any:
        # Files written before numpy 2 (CIFAR's own) name numpy.core, now numpy._core.
        module = module.replace("numpy.core.", "numpy._core.")
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


class Cifar:
    """CIFAR-10/100's python version: pickled batches, in their folder or their .tar.gz."""

    def __init__(self, found: Path, keras_set: KerasSet, name: str, label_mode: str) -> None:
        self.found = found
        self.keras_set = keras_set
        self.name = name
        self.label_key = "labels" if name == "cifar10" else f"{label_mode}_labels"
        self.label_mode = label_mode
        labels = "" if name == "cifar10" else f" ({label_mode} labels)"
        self.description = f"{keras_set.title}{labels} from {found}"

    def check(self) -> Summary:
        if self.found.is_file():
            try:
                with tarfile.open(self.found) as tar:
                    names = set(tar.getnames())
            except (tarfile.TarError, OSError, EOFError) as exc:
                raise DataError(f"{self.found}: not a readable .tar.gz ({exc})") from None
            for f in self.keras_set.files:
                if f"{self.keras_set.folder}/{f}" not in names:
                    raise DataError(f"{self.found}: the archive lacks {self.keras_set.folder}/{f}")
        classes = 10 if self.name == "cifar10" else 100 if self.label_mode == "fine" else 20
        # Its labels lie in the pickles beside the pixels: the sizes are CIFAR's own.
        train, test = self.keras_set.sizes
        return Summary(
            f"{self.description}, {classes} classes", classes, self.keras_set.image, 1, train, test
        )

    def read(self, select: Select) -> Images:
        batches = self._unpickle()
        train_files = [f for f in self.keras_set.files if f.startswith(("data_batch", "train"))]
        test_file = "test_batch" if self.name == "cifar10" else "test"
        meta = batches["batches.meta" if self.name == "cifar10" else "meta"]
        names_key = "label_names" if self.name == "cifar10" else f"{self.label_mode}_label_names"
        y = np.concatenate([self._labels(batches[f], f) for f in train_files])
        keep = select(y)
        x = np.concatenate([self._images(batches.pop(f), f) for f in train_files])
        test = batches.pop(test_file)
        return Images(
            x=x[keep],
            y=y[keep],
            class_names=tuple(
                n.decode() if isinstance(n, bytes) else str(n) for n in meta[names_key]
            ),
            input_scale=255.0,
            description=self.description,
            x_test=self._images(test, test_file),
            y_test=self._labels(test, test_file),
        )

    def _unpickle(self) -> dict[str, dict[str, Any]]:
        """Every batch, by file name, with its keys as text (the files are Python 2 pickles)."""
        wanted = set(self.keras_set.files)
        if self.found.is_dir():
            out = {}
            for name in wanted:
                with open(self.found / name, "rb") as fp:
                    out[name] = self._load(fp, name)
            return out
        return self._unpickle_archive(wanted)

    def _unpickle_archive(self, wanted: set[str]) -> dict[str, dict[str, Any]]:
        # One pass through the archive, in its order: a .tar.gz cannot seek back cheaply.
        out = {}
        with tarfile.open(self.found) as tar:
            for member in tar:
                name = member.name.removeprefix(f"{self.keras_set.folder}/")
                stream = tar.extractfile(member) if name in wanted else None
                if stream is not None:
                    out[name] = self._load(stream, name)
        return out

    def _load(self, fp: IO[bytes], name: str) -> dict[str, Any]:
        try:
            batch = _Unpickler(fp, encoding="bytes").load()
        except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as exc:
            raise DataError(f"{self.found}: {name} is not a CIFAR batch ({exc})") from None
        return {k.decode() if isinstance(k, bytes) else k: v for k, v in batch.items()}

    def _images(self, batch: dict[str, Any], name: str) -> np.ndarray:
        data = np.asarray(batch.get("data"))
        if data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
            raise DataError(f"{self.found}: {name} data must be N x 3072 bytes, got {data.shape}")
        # Stored as planes (N, 3, 32, 32); Keras and the model want (N, 32, 32, 3).
        return np.ascontiguousarray(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))

    def _labels(self, batch: dict[str, Any], name: str) -> np.ndarray:
        if self.label_key not in batch:
            raise DataError(f"{self.found}: {name} has no {self.label_key}")
        return as_labels(np.asarray(batch[self.label_key]), self.label_key, self.found / name)
