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

import gzip
import os
import pickle
import struct
import tarfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol

import numpy as np

from automl.errors import DataError
from automl.spec import DatasetSpec

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
    """What a check learns without decoding pixels."""

    description: str
    num_classes: int


class Source(Protocol):
    def check(self) -> Summary:
        """Raise DataError for anything wrong that shows without decoding pixels."""

    def read(self, select: Select) -> Images:
        """Read the images (only the selected training ones); call after `check`."""


# ------------------------------------------------------------------ checks shared by the sources


def _labels(y: np.ndarray, key: str, where: Path) -> np.ndarray:
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
        if not np.all(np.isfinite(y)) or np.any(y != np.round(y)):
            raise DataError(f"{where}: {key} must hold whole class numbers, got fractions")
    elif y.dtype.kind not in "iu":
        raise DataError(f"{where}: {key} must hold class numbers, got dtype {y.dtype}")
    if len(y) and y.min() < 0:
        raise DataError(f"{where}: {key} holds label {y.min():g}; labels are 0 or more")
    return y.astype(np.int64)


def _check_classes(y_train: np.ndarray, num_classes: int, where: Path) -> None:
    """Every class 0..K-1 must have a training image: a gap is a mislabelled set (1-based?)."""
    present = np.unique(y_train)
    if len(present) and present[-1] >= num_classes:
        raise DataError(
            f"{where}: y_train holds label {present[-1]}, out of range 0..{num_classes - 1} "
            "(the class_names given)"
        )
    missing = np.setdiff1d(np.arange(num_classes), present)
    if len(missing):
        shown = ", ".join(str(m) for m in missing[:5]) + (", ..." if len(missing) > 5 else "")
        raise DataError(
            f"{where}: y_train has no image of class {shown}; labels must run 0..K-1 "
            "with every class present (1-based labels? subtract 1)"
        )


def _check_in_range(y: np.ndarray, key: str, num_classes: int, where: Path) -> None:
    if len(y) and y.max() >= num_classes:
        raise DataError(
            f"{where}: {key} holds label {y.max()}, out of range 0..{num_classes - 1} "
            "(the classes of y_train)"
        )


def _input_scale(x: np.ndarray) -> float:
    """The largest raw value: 255 for 8-bit images, else the largest in the training images."""
    if x.dtype == np.uint8:
        return 255.0
    largest = float(x.max()) if x.size else 0.0
    return largest if largest > 0 else 1.0


# ---------------------------------------------------------------------------- digits


class _Digits:
    """scikit-learn's bundled digits: 8x8 grayscale, values 0..16; nothing to download."""

    description = "scikit-learn digits: 1,797 8x8 grayscale images, values 0-16, 10 classes"

    def check(self) -> Summary:
        return Summary(self.description, 10)

    def read(self, select: Select) -> Images:
        from sklearn.datasets import load_digits

        digits = load_digits()
        y = digits.target.astype(np.int64)
        keep = select(y)
        return Images(
            x=digits.images[keep][..., None].astype(np.float32),
            y=y[keep],
            class_names=tuple(str(i) for i in range(10)),
            input_scale=16.0,
            description=self.description,
        )


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


def _channels(shape: tuple[int, ...]) -> int:
    return shape[3] if len(shape) == 4 else 1


# ---------------------------------------------------------------------------- Keras data sets


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


KERAS_SETS: dict[str, KerasSet] = {
    "mnist": KerasSet(
        "MNIST",
        files=("mnist.npz",),
        folder="",
        places=("",),
        cache_folder="",
        wanted="mnist.npz",
        packed="zip",
        class_names=tuple(str(i) for i in range(10)),
    ),
    "fashion_mnist": KerasSet(
        "Fashion-MNIST",
        files=(
            "train-labels-idx1-ubyte.gz",
            "train-images-idx3-ubyte.gz",
            "t10k-labels-idx1-ubyte.gz",
            "t10k-images-idx3-ubyte.gz",
        ),
        folder="",
        places=("", "fashion-mnist"),
        cache_folder="fashion-mnist",
        wanted="train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
        "t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz",
        class_names=(
            "T-shirt/top",
            "Trouser",
            "Pullover",
            "Dress",
            "Coat",
            "Sandal",
            "Shirt",
            "Sneaker",
            "Bag",
            "Ankle boot",
        ),
    ),
    "cifar10": KerasSet(
        "CIFAR-10",
        files=(*(f"data_batch_{i}" for i in range(1, 6)), "test_batch", "batches.meta"),
        folder="cifar-10-batches-py",
        # Keras extracts its download into cifar-10-batches-py-target/ and keeps the archive
        # beside it; a user may also leave the archive or its extracted folder as they are.
        places=(
            "",
            "cifar-10-batches-py",
            "cifar-10-batches-py-target/cifar-10-batches-py",
            "cifar-10-python.tar.gz",
            "cifar-10-batches-py-target_archive",
        ),
        cache_folder="",
        wanted="cifar-10-python.tar.gz or its extracted cifar-10-batches-py folder",
        packed="tar",
    ),
    "cifar100": KerasSet(
        "CIFAR-100",
        files=("train", "test", "meta"),
        folder="cifar-100-python",
        places=(
            "",
            "cifar-100-python",
            "cifar-100-python-target/cifar-100-python",
            "cifar-100-python.tar.gz",
            "cifar-100-python-target_archive",
        ),
        cache_folder="",
        wanted="cifar-100-python.tar.gz or its extracted cifar-100-python folder",
        packed="tar",
    ),
}


def keras_cache() -> Path:
    """Where keras.datasets keeps its downloads: $KERAS_HOME/datasets, else ~/.keras/datasets."""
    home = os.environ.get("KERAS_HOME")
    if home is None:
        base = Path.home()
        # Keras falls back to /tmp when the home folder is read-only.
        home = str((base if os.access(base, os.W_OK) else Path("/tmp")) / ".keras")
    return Path(home).expanduser() / "datasets"


def _find(base: Path, keras_set: KerasSet) -> Path | None:
    """The folder holding the set's files, or the archive holding them, at one of its places."""
    for place in keras_set.places:
        candidate = base / place if place else base
        if candidate.is_dir():
            if all((candidate / f).is_file() for f in keras_set.files):
                return candidate
        elif candidate.is_file() and _packed(candidate, keras_set):
            return candidate
    return None


def _packed(path: Path, keras_set: KerasSet) -> bool:
    """A file that holds the whole set: mnist's npz (by any name), or CIFAR's .tar.gz."""
    if keras_set.packed == "zip":
        return zipfile.is_zipfile(path)
    if keras_set.packed == "tar":
        try:
            return tarfile.is_tarfile(path)
        except OSError:
            return False
    return False


def _keras_source(spec: DatasetSpec, fetch: Callable[[str], None] | None) -> Source | None:
    keras_set = KERAS_SETS[spec.name]
    if spec.path is not None:
        path = Path(spec.path).expanduser()
        if not path.exists():
            raise DataError(f"dataset.path: no such file or folder: {path}")
        found = _find(path, keras_set)
        if found is None:
            raise DataError(
                f"dataset.path: {path} holds no {keras_set.title} files; expected "
                f"{keras_set.wanted} (as Keras downloads them)"
            )
    else:
        found = _find(keras_cache(), keras_set)
        if found is None:
            if fetch is None:
                return None
            fetch(spec.name)
            found = _find(keras_cache(), keras_set)
            if found is None:
                raise DataError(_missing(spec.name, "was downloaded but is not where expected"))
    if spec.name == "mnist":
        npz = found if found.is_file() else found / "mnist.npz"
        return _Npz(npz, "MNIST", keras_set.class_names)
    if spec.name == "fashion_mnist":
        return _Idx(found, keras_set)
    return _Cifar(found, keras_set, spec.name, spec.label_mode)


def _missing(name: str, reason: str) -> str:
    keras_set = KERAS_SETS[name]
    where = keras_cache() / keras_set.cache_folder
    return (
        f"dataset {name}: {keras_set.title} is not in the Keras cache and {reason}; put "
        f"{keras_set.wanted} in {where}, or set dataset.path to it, or use dataset npz or folder"
    )


def to_download(name: str) -> str:
    """What `automl run` will download, for a Keras data set not in the cache yet."""
    keras_set = KERAS_SETS[name]
    return (
        f"{keras_set.title}: not in the Keras cache yet; `automl run` downloads it into "
        f"{keras_cache() / keras_set.cache_folder}"
    )


def download(name: str) -> None:
    """Have Keras download a data set into its cache; offline, say what to put where."""
    from automl.backend import load_keras

    keras = load_keras()

    loaders = {
        "mnist": keras.datasets.mnist.load_data,
        "fashion_mnist": keras.datasets.fashion_mnist.load_data,
        "cifar10": keras.datasets.cifar10.load_data,
        "cifar100": keras.datasets.cifar100.load_data,
    }
    try:
        loaders[name]()
    except Exception as exc:  # noqa: BLE001 - Keras raises a bare Exception for a failed fetch
        reason = " ".join(str(exc).split())
        raise DataError(_missing(name, f"could not be downloaded ({reason})")) from None


def download_in_child(name: str) -> None:
    """`download` in a child process: the caller (the supervisor) stays free of TensorFlow."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        try:
            pool.submit(download, name).result()
        except BrokenProcessPool:
            raise DataError(_missing(name, "its download stopped (the process died)")) from None


class _Idx:
    """Fashion-MNIST's four gzipped IDX files (the MNIST file format)."""

    def __init__(self, folder: Path, keras_set: KerasSet) -> None:
        self.folder = folder
        self.keras_set = keras_set

    def check(self) -> Summary:
        """The four headers: byte IDX files, images (N, H, W) matching N labels."""
        labels, images, test_labels, test_images = (
            _open_idx(self.folder / f, header_only=True)[0] for f in self.keras_set.files
        )
        for x, y, kind in ((images, labels, "train"), (test_images, test_labels, "t10k")):
            if len(x) != 3 or len(y) != 1 or x[0] != y[0]:
                raise DataError(
                    f"{self.folder}: the {kind} images {x} do not match the {kind} labels {y}"
                )
        return Summary(f"{self.keras_set.title} from {self.folder}, 10 classes", 10)

    def read(self, select: Select) -> Images:
        y_train, x_train, y_test, x_test = (
            _read_idx(self.folder / f) for f in self.keras_set.files
        )
        y = _labels(y_train, "train labels", self.folder)
        keep = select(y)
        return Images(
            x=x_train[keep],
            y=y[keep],
            class_names=self.keras_set.class_names,
            input_scale=255.0,
            description=f"{self.keras_set.title} from {self.folder}",
            x_test=x_test.copy(),  # frombuffer's arrays are read-only views of the file
            y_test=_labels(y_test, "test labels", self.folder),
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


class _Cifar:
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
        return Summary(f"{self.description}, {classes} classes", classes)

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

        def load(fp: IO[bytes], name: str) -> dict[str, Any]:
            try:
                batch = _Unpickler(fp, encoding="bytes").load()
            except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as exc:
                raise DataError(f"{self.found}: {name} is not a CIFAR batch ({exc})") from None
            return {k.decode() if isinstance(k, bytes) else k: v for k, v in batch.items()}

        wanted = set(self.keras_set.files)
        if self.found.is_dir():
            out = {}
            for name in wanted:
                with open(self.found / name, "rb") as fp:
                    out[name] = load(fp, name)
            return out
        # One pass through the archive, in its order: a .tar.gz cannot seek back cheaply.
        out = {}
        with tarfile.open(self.found) as tar:
            for member in tar:
                name = member.name.removeprefix(f"{self.keras_set.folder}/")
                if name in wanted:
                    stream = tar.extractfile(member)
                    if stream is not None:
                        out[name] = load(stream, name)
        return out

    def _images(self, batch: dict[str, Any], name: str) -> np.ndarray:
        data = np.asarray(batch.get("data"))
        if data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
            raise DataError(f"{self.found}: {name} data must be N x 3072 bytes, got {data.shape}")
        # Stored as planes (N, 3, 32, 32); Keras and the model want (N, 32, 32, 3).
        return np.ascontiguousarray(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))

    def _labels(self, batch: dict[str, Any], name: str) -> np.ndarray:
        if self.label_key not in batch:
            raise DataError(f"{self.found}: {name} has no {self.label_key}")
        return _labels(np.asarray(batch[self.label_key]), self.label_key, self.found / name)


# ---------------------------------------------------------------------------- folder of images

GRAYSCALE_MODES = ("1", "L", "LA", "I", "I;16", "F")


@dataclass(frozen=True)
class _Scan:
    files: tuple[Path, ...]
    labels: np.ndarray
    class_names: tuple[str, ...]
    size: tuple[int, int]  # (height, width)
    mode: str  # PIL's mode to convert to: "L" or "RGB"


class _Folder:
    """One subfolder per class (sorted names are the classes), PNG/JPEG images inside."""

    def __init__(self, spec: DatasetSpec) -> None:
        self.spec = spec
        self.root = Path(str(spec.path)).expanduser()
        self.scan: _Scan | None = None

    def check(self) -> Summary:
        from PIL import Image

        root = self.root
        if not root.exists():
            raise DataError(f"dataset.path: no such folder: {root}")
        if not root.is_dir():
            raise DataError(
                f"dataset.path: {root} is a file; a folder data set is a folder with one "
                "subfolder of images per class"
            )
        classes = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
        if not classes:
            raise DataError(
                f"{root}: no class folders; put the images of each class in a subfolder "
                "named after the class"
            )
        if len(classes) < 2:
            raise DataError(f"{root}: one class folder ({classes[0].name}); a classifier needs two")
        files: list[Path] = []
        labels: list[int] = []
        sizes: dict[tuple[int, int], Path] = {}
        gray = True
        for label, folder in enumerate(classes):
            images = sorted(
                p
                for p in folder.rglob("*")
                if p.is_file() and not any(s.startswith(".") for s in p.relative_to(folder).parts)
            )
            if not images:
                raise DataError(f"{folder}: no images in class folder {folder.name!r}")
            for path in images:
                try:
                    with Image.open(path) as image:
                        width, height = image.size
                        gray = gray and image.mode in GRAYSCALE_MODES
                except OSError:
                    raise DataError(f"{path}: not an image (PNG or JPEG expected)") from None
                sizes.setdefault((height, width), path)
                files.append(path)
                labels.append(label)
        if self.spec.image_size is not None:
            size = self.spec.image_size
        elif len(sizes) > 1:
            (a, path_a), (b, path_b) = list(sizes.items())[:2]
            raise DataError(
                f"{root}: images differ in size ({path_a} is {a[1]}x{a[0]}, {path_b} is "
                f"{b[1]}x{b[0]}); set dataset.image_size"
            )
        else:
            size = next(iter(sizes))
        color = self.spec.color_mode or ("grayscale" if gray else "rgb")
        names = tuple(d.name for d in classes)
        self.scan = _Scan(
            tuple(files),
            np.array(labels, dtype=np.int64),
            names,
            size,
            "L" if color == "grayscale" else "RGB",
        )
        shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
        return Summary(
            f"folder {root}: {len(files):,} images in {len(names)} classes ({shown}), "
            f"{size[0]}x{size[1]} {color}",
            len(names),
        )

    def read(self, select: Select) -> Images:
        from PIL import Image

        if self.scan is None:
            self.check()
        scan = self.scan
        assert scan is not None
        keep = select(scan.labels)
        height, width = scan.size
        x = np.empty((len(keep), height, width, 1 if scan.mode == "L" else 3), dtype=np.uint8)
        for i, index in enumerate(keep):
            path = scan.files[index]
            try:
                with Image.open(path) as image:
                    pixels = image.convert(scan.mode)
                    if pixels.size != (width, height):
                        pixels = pixels.resize((width, height), Image.Resampling.BILINEAR)
                    x[i] = np.asarray(pixels).reshape(x.shape[1:])
            except OSError as exc:
                raise DataError(f"{path}: cannot decode the image ({exc})") from None
        return Images(
            x=x,
            y=scan.labels[keep],
            class_names=scan.class_names,
            input_scale=255.0,
            description=f"folder {self.root}",
        )


# ---------------------------------------------------------------------------- locating


def locate(spec: DatasetSpec, fetch: Callable[[str], None] | None) -> Source | None:
    """The source a spec names; None only for a Keras set that is not local and not fetched."""
    if spec.name == "digits":
        return _Digits()
    if spec.name == "npz":
        return _Npz(Path(str(spec.path)).expanduser())
    if spec.name == "folder":
        return _Folder(spec)
    if spec.name in KERAS_SETS:
        return _keras_source(spec, fetch)
    raise DataError(f"dataset.name: {spec.name} is not available in this version")
