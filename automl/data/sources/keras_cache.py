"""Keras's data sets (mnist, fashion_mnist, cifar10, cifar100): where their files lie, which
source reads them, and their download.

Their files are found in `dataset.path` or the Keras cache and read by the npz, IDX and CIFAR
sources rather than by `keras.datasets.<name>.load_data`, which trusts only a file whose hash
matches the download (anything else is downloaded again, and deleted when that fails offline),
cannot read a copy kept elsewhere, and imports TensorFlow. Keras still does the downloading,
with its own URLs, hashes and cache layout: in a child process when the caller must stay free
of TensorFlow.
"""

from __future__ import annotations

import multiprocessing
import os
import tarfile
import zipfile
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from automl.backend import load_keras
from automl.data.sources.base import KerasSet, Source, Summary, writable_home
from automl.data.sources.cifar import Cifar
from automl.data.sources.idx import Idx
from automl.data.sources.npz import Npz
from automl.errors import DataError
from automl.spec.schema import DatasetSpec

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
        image=(32, 32, 3),
        sizes=(50_000, 10_000),
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
        image=(32, 32, 3),
        sizes=(50_000, 10_000),
    ),
}


def keras_cache() -> Path:
    """Where keras.datasets keeps its downloads: $KERAS_HOME/datasets, else ~/.keras/datasets."""
    home = os.environ.get("KERAS_HOME")
    folder = Path(home).expanduser() if home is not None else writable_home() / ".keras"
    return folder / "datasets"


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


def keras_source(spec: DatasetSpec, fetch: Callable[[str], None] | None) -> Source | None:
    """The source of a Keras data set, from `dataset.path` or else the Keras cache (fetched into
    it when missing, with `fetch`); None when it is not cached and there is no `fetch`."""
    keras_set = KERAS_SETS[spec.name]
    if spec.path is not None:
        found: Path | None = _in_path(Path(spec.path).expanduser(), keras_set)
    else:
        found = _in_cache(spec.name, fetch)
    if found is None:
        return None
    if spec.name == "mnist":
        npz = found if found.is_file() else found / "mnist.npz"
        return Npz(npz, "MNIST", keras_set.class_names)
    if spec.name == "fashion_mnist":
        return Idx(found, keras_set)
    return Cifar(found, keras_set, spec.name, spec.label_mode)


def _in_path(path: Path, keras_set: KerasSet) -> Path:
    if not path.exists():
        raise DataError(f"dataset.path: no such file or folder: {path}")
    found = _find(path, keras_set)
    if found is None:
        raise DataError(
            f"dataset.path: {path} holds no {keras_set.title} files; expected "
            f"{keras_set.wanted} (as Keras downloads them)"
        )
    return found


def _in_cache(name: str, fetch: Callable[[str], None] | None) -> Path | None:
    keras_set = KERAS_SETS[name]
    found = _find(keras_cache(), keras_set)
    if found is not None or fetch is None:
        return found
    fetch(name)
    found = _find(keras_cache(), keras_set)
    if found is None:
        raise DataError(_missing(name, "was downloaded but is not where expected"))
    return found


def _missing(name: str, reason: str) -> str:
    keras_set = KERAS_SETS[name]
    where = keras_cache() / keras_set.cache_folder
    return (
        f"dataset {name}: {keras_set.title} is not in the Keras cache and {reason}; put "
        f"{keras_set.wanted} in {where}, or set dataset.path to it, or use dataset npz or folder"
    )


def expected(name: str) -> Summary:
    """What a Keras data set's download holds, to size it before it is there (CIFAR's classes
    are counted once its files are read)."""
    keras_set = KERAS_SETS[name]
    train, test = keras_set.sizes
    return Summary(keras_set.title, len(keras_set.class_names), keras_set.image, 1, train, test)


def to_download(name: str) -> str:
    """What `automl run` will download, for a Keras data set not in the cache yet."""
    keras_set = KERAS_SETS[name]
    return (
        f"{keras_set.title}: not in the Keras cache yet; `automl run` downloads it into "
        f"{keras_cache() / keras_set.cache_folder}"
    )


def download(name: str) -> None:
    """Have Keras download a data set into its cache; offline, say what to put where."""
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
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        try:
            pool.submit(download, name).result()
        except BrokenProcessPool:
            raise DataError(_missing(name, "its download stopped (the process died)")) from None
