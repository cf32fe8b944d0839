"""The CIFAR source: CIFAR's pickled batches, in their .tar.gz or extracted as Keras leaves
them, read as Keras's own `load_batch` reads them."""

from __future__ import annotations

import io
import pickle
import tarfile
from pathlib import Path

import numpy as np

from automl.data.dataset import load_dataset
from tests.data_files import spec


def cifar_images(n: int, seed: int) -> np.ndarray:
    """CIFAR's `data`: N x 3072 bytes, the red, green and blue 32x32 planes one after another."""
    return np.random.default_rng(seed).integers(0, 256, (n, 3072), dtype=np.uint8)


def cifar100_batches(n_train: int = 200, n_test: int = 40) -> dict[str, dict[bytes, object]]:
    """train, test and meta as CIFAR-100's python version holds them (bytes keys)."""

    def batch(n: int, seed: int) -> dict[bytes, object]:
        fine = [i % 100 for i in range(n)]
        return {
            b"filenames": [f"img{i}.png".encode() for i in range(n)],
            b"batch_label": b"training batch 1 of 1",
            b"fine_labels": fine,
            b"coarse_labels": [f // 5 for f in fine],
            b"data": cifar_images(n, seed),
        }

    return {
        "train": batch(n_train, 1),
        "test": batch(n_test, 2),
        "meta": {
            b"fine_label_names": [f"fine{i}".encode() for i in range(100)],
            b"coarse_label_names": [f"coarse{i}".encode() for i in range(20)],
        },
    }


def write_cifar_tar(path: Path, folder: str, batches: dict[str, dict[bytes, object]]) -> Path:
    """A .tar.gz with `folder/<batch>` pickles, as www.cs.toronto.edu/~kriz serves them.

    The originals are Python 2 pickles whose str keys load as bytes; protocol 3 writes bytes
    keys the same way, and numpy arrays with the globals Keras's own loader accepts.
    """
    with tarfile.open(path, "w:gz") as tar:
        for name, content in batches.items():
            data = pickle.dumps(content, protocol=3)
            info = tarfile.TarInfo(f"{folder}/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def write_cifar_folder(root: Path, folder: str, batches: dict[str, dict[bytes, object]]) -> Path:
    (root / folder).mkdir(parents=True)
    for name, content in batches.items():
        (root / folder / name).write_bytes(pickle.dumps(content, protocol=3))
    return root / folder


def cifar10_batches(per_batch: int = 20) -> dict[str, dict[bytes, object]]:
    out: dict[str, dict[bytes, object]] = {}
    for i, name in enumerate([*(f"data_batch_{b}" for b in range(1, 6)), "test_batch"]):
        out[name] = {
            b"labels": [j % 10 for j in range(per_batch)],
            b"data": cifar_images(per_batch, i),
        }
    out["batches.meta"] = {b"label_names": [n.encode() for n in CIFAR10_NAMES]}
    return out


CIFAR10_NAMES = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
]


def test_cifar100_fine_and_coarse_from_the_cache_as_keras_extracts_it(
    keras_home: Path, tmp_path: Path
) -> None:
    import keras
    from keras.src.datasets.cifar import load_batch

    archive = write_cifar_tar(
        tmp_path / "cifar-100-python.tar.gz",
        "cifar-100-python",
        cifar100_batches(n_train=200, n_test=40),
    )
    # Keras's own download step (from a file URL) leaves the archive extracted in its cache.
    extracted = keras.utils.get_file(
        fname="cifar-100-python-target",
        origin=archive.as_uri(),
        extract=True,
        cache_dir=str(keras_home),
    )
    folder = Path(extracted) / "cifar-100-python"
    for label_mode, classes in (("fine", 100), ("coarse", 20)):
        data = load_dataset(spec(name="cifar100", label_mode=label_mode, max_samples=200))
        assert data.num_classes == classes
        assert data.class_names[1] == f"{label_mode}1"
        assert data.input_shape == (32, 32, 3) and data.input_scale == 255.0
        x_test, y_test = load_batch(str(folder / "test"), label_key=f"{label_mode}_labels")
        assert data.x_test is not None and data.y_test is not None
        assert (data.x_test == x_test.transpose(0, 2, 3, 1)).all()
        assert data.y_test.tolist() == list(y_test)

    # The archive itself, or the folder it holds, given as dataset.path: the same images.
    for path in (archive, folder):
        other = load_dataset(spec(name="cifar100", label_mode="coarse", path=str(path)))
        assert other.x_test is not None and (other.x_test == data.x_test).all()


def test_cifar10_from_its_extracted_folder_as_grayscale(tmp_path: Path) -> None:
    folder = write_cifar_folder(tmp_path, "cifar-10-batches-py", cifar10_batches(per_batch=20))
    data = load_dataset(spec(name="cifar10", path=str(tmp_path), color_mode="grayscale"))
    assert data.class_names == tuple(CIFAR10_NAMES)
    assert data.input_shape == (32, 32, 1) and data.x_train.dtype == np.uint8
    assert len(data.y_train) + len(data.y_val) == 100
    assert data.x_test is not None and data.x_test.shape == (20, 32, 32, 1)
    assert "cifar-10-batches-py" in str(folder)
