"""Data sets from the files a user has: folders of images, npz files, Keras's own formats.

Each test writes tiny files in the real format (PNG, mnist.npz's keys, Fashion-MNIST's gzipped
IDX files, CIFAR's pickled batches in their .tar.gz) and runs the real loading code on them.
No test touches the network: the Keras cache is a temporary KERAS_HOME, and the one test that
lets Keras try a download points its proxy at a closed port.
"""

from __future__ import annotations

import gzip
import io
import pickle
import struct
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image
from typer.testing import CliRunner, Result

from automl.cli.app import app
from automl.data.dataset import check_dataset, load_dataset, subset
from automl.data.pipeline import pipelines
from automl.errors import DataError
from automl.spec.rules import parse
from automl.spec.schema import DatasetSpec

ROOT = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------------------- writers


def pattern(label: int, index: int, shape: tuple[int, ...]) -> np.ndarray:
    """A uint8 image whose pixels tell its class and index apart."""
    values = (np.arange(int(np.prod(shape))) * 7 + label * 50 + index * 3) % 256
    return values.reshape(shape).astype(np.uint8)


def write_folder(
    root: Path, classes: dict[str, int], size: tuple[int, int] = (10, 12), mode: str = "RGB"
) -> Path:
    """One subfolder of PNGs per class; size is (height, width)."""
    for label, (name, count) in enumerate(classes.items()):
        (root / name).mkdir(parents=True)
        for i in range(count):
            shape = (*size, 3) if mode == "RGB" else size
            Image.fromarray(pattern(label, i, shape), mode=None).save(root / name / f"{i}.png")
    return root


def write_npz(path: Path, **arrays: np.ndarray) -> Path:
    np.savez(path, **arrays)
    return path


def mnist_arrays(n_train: int = 40, n_test: int = 20, side: int = 28) -> dict[str, np.ndarray]:
    """mnist.npz's keys, dtypes and layout: uint8 (N, 28, 28) images, uint8 labels."""
    y_train = (np.arange(n_train) % 10).astype(np.uint8)
    y_test = (np.arange(n_test) % 10).astype(np.uint8)
    return {
        "x_train": np.stack([pattern(int(c), i, (side, side)) for i, c in enumerate(y_train)]),
        "y_train": y_train,
        "x_test": np.stack([pattern(int(c), i + 1, (side, side)) for i, c in enumerate(y_test)]),
        "y_test": y_test,
    }


def idx_bytes(array: np.ndarray) -> bytes:
    """The IDX format of MNIST and Fashion-MNIST: 0, 0, 0x08 (bytes), ndim, sizes, data."""
    header = bytes([0, 0, 8, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_fashion(folder: Path, n_train: int = 30, n_test: int = 10) -> Path:
    folder.mkdir(parents=True)
    arrays = mnist_arrays(n_train, n_test)
    for name, key in (
        ("train-labels-idx1-ubyte.gz", "y_train"),
        ("train-images-idx3-ubyte.gz", "x_train"),
        ("t10k-labels-idx1-ubyte.gz", "y_test"),
        ("t10k-images-idx3-ubyte.gz", "x_test"),
    ):
        with gzip.open(folder / name, "wb") as f:
            f.write(idx_bytes(arrays[key]))
    return folder


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


def spec(**fields: object) -> DatasetSpec:
    """A DatasetSpec through the study file's own parser."""
    return parse({"name": "t", "dataset": dict(fields)}).dataset


def study_file(tmp_path: Path, dataset: dict[str, object], **fields: object) -> Path:
    path = tmp_path / "study.yaml"
    study = {"name": "data-test", "dataset": dataset, "epochs": 1, "trials": 1, **fields}
    path.write_text(yaml.safe_dump(study))
    return path


def run_in(tmp_path: Path, study: Path) -> tuple[Result, tuple[Path, Path]]:
    """`automl run` with its Optuna journal and MLflow store in tmp_path (returned, to check)."""
    journal, mlflow_db = tmp_path / "study.journal", tmp_path / "mlflow.db"
    uri = f"sqlite:///{mlflow_db}"
    args = ["run", str(study), "--storage", str(journal), "--tracking-uri", uri]
    return CliRunner().invoke(app, args), (journal, mlflow_db)


# ---------------------------------------------------------------------------- a folder of images


def test_folder_classes_are_the_sorted_subfolders_and_the_split_is_stratified(
    tmp_path: Path,
) -> None:
    root = write_folder(tmp_path / "pets", {"dog": 10, "cat": 10, "fox": 15})
    data = load_dataset(spec(name="folder", path=str(root), validation_split=0.2), seed=0)

    assert data.class_names == ("cat", "dog", "fox")
    assert data.x_train.dtype == np.uint8 and data.input_scale == 255.0
    assert data.input_shape == (10, 12, 3)
    assert np.bincount(data.y_val).tolist() == [2, 2, 3]
    assert np.bincount(data.y_train).tolist() == [8, 8, 12]
    assert data.x_test is None
    # Pixels arrive as written: every image of dog/3.png's class, "dog" = label 1.
    dog3 = np.asarray(Image.open(root / "dog" / "3.png"))
    everything = np.concatenate([data.x_train, data.x_val])
    labels = np.concatenate([data.y_train, data.y_val])
    assert any((image == dog3).all() for image in everything[labels == 1])
    # The split is seeded: the same seed gives the same split, another seed another.
    again = load_dataset(spec(name="folder", path=str(root), validation_split=0.2), seed=0)
    other = load_dataset(spec(name="folder", path=str(root), validation_split=0.2), seed=1)
    assert again is data  # loaded once per process
    assert (other.x_val != data.x_val).any()


def test_folder_grayscale_is_inferred_and_image_size_resizes_once(tmp_path: Path) -> None:
    root = write_folder(tmp_path / "digits", {"0": 6, "1": 6}, size=(8, 8), mode="L")
    gray = load_dataset(spec(name="folder", path=str(root)))
    assert gray.input_shape == (8, 8, 1)

    rgb = load_dataset(spec(name="folder", path=str(root), color_mode="rgb", image_size=[4, 6]))
    assert rgb.input_shape == (4, 6, 3) and rgb.x_train.dtype == np.uint8
    assert (rgb.x_train[..., 0] == rgb.x_train[..., 2]).all()


def test_folder_of_mixed_sizes_asks_for_image_size(tmp_path: Path) -> None:
    root = write_folder(tmp_path / "mixed", {"a": 2, "b": 2}, size=(8, 8))
    Image.new("RGB", (5, 7)).save(root / "b" / "odd.png")
    with pytest.raises(DataError, match="images differ in size.*set dataset.image_size"):
        check_dataset(spec(name="folder", path=str(root)))
    data = load_dataset(spec(name="folder", path=str(root), image_size=8, max_samples=4))
    assert data.input_shape == (8, 8, 3) and len(data.y_train) + len(data.y_val) == 4


def bad_folders(tmp: Path) -> dict[str, tuple[Path, Path, str]]:
    """Broken folders: the dataset.path, the path its error line must name, and the words."""
    empty = tmp / "empty"
    empty.mkdir()
    no_images = write_folder(tmp / "no_images", {"cat": 2, "dog": 2})
    for f in (no_images / "dog").iterdir():
        f.unlink()
    not_image = write_folder(tmp / "not_image", {"cat": 2, "dog": 2})
    (not_image / "cat" / "notes.png").write_text("not a picture")
    one_class = write_folder(tmp / "one_class", {"cat": 3})
    a_file = tmp / "a_file.png"
    a_file.write_bytes(b"")
    return {
        "missing path": (tmp / "nowhere", tmp / "nowhere", "no such folder"),
        "empty folder": (empty, empty, "no class folders"),
        "class without images": (no_images, no_images / "dog", "no images in class folder"),
        "not an image": (not_image, not_image / "cat" / "notes.png", "not an image"),
        "a single class": (one_class, one_class, "one class folder"),
        "a file, not a folder": (a_file, a_file, "is a file"),
    }


def test_bad_folders_stop_automl_validate_with_one_line_naming_the_path(tmp_path: Path) -> None:
    good = write_folder(tmp_path / "good", {"cat": 3, "dog": 2})
    study = study_file(tmp_path, {"name": "folder", "path": str(good)})
    result = CliRunner().invoke(app, ["validate", str(study)])
    assert result.exit_code == 0
    assert f"data: folder {good}: 5 images in 2 classes (cat, dog), 10x12 rgb" in result.output

    for case, (path, named, words) in bad_folders(tmp_path).items():
        study = study_file(tmp_path, {"name": "folder", "path": str(path)})
        result = CliRunner().invoke(app, ["validate", str(study)])
        assert result.exit_code == 2, case
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), (case, result.output)
        assert str(named) in lines[0] and words in lines[0], (case, lines[0])


# ---------------------------------------------------------------------------- npz files


def test_npz_in_mnist_layout_keeps_its_test_set_raw_and_apart(tmp_path: Path) -> None:
    arrays = mnist_arrays(n_train=50, n_test=20)
    path = write_npz(tmp_path / "mine.npz", **arrays)
    data = load_dataset(spec(name="npz", path=str(path), image_size=[14, 14]), seed=3)

    assert data.class_names == tuple(str(i) for i in range(10))
    assert data.input_scale == 255.0 and data.x_train.dtype == np.uint8
    assert data.input_shape == (14, 14, 1)
    assert len(data.y_train) + len(data.y_val) == 50 and len(data.y_val) == 10
    # The test set is the file's, resized like the training images, never split or subset.
    assert data.x_test is not None and data.y_test is not None
    assert data.x_test.shape == (20, 14, 14, 1) and data.x_test.dtype == np.uint8
    assert data.y_test.tolist() == arrays["y_test"].tolist()


def test_npz_with_channels_floats_a_validation_set_and_class_names(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    path = write_npz(
        tmp_path / "floats.npz",
        x_train=rng.uniform(0, 16, (30, 8, 8, 1)).astype(np.float32),
        y_train=np.arange(30) % 3,
        x_val=rng.uniform(0, 16, (6, 8, 8, 1)).astype(np.float32),
        y_val=np.arange(6).reshape(6, 1) % 3,
        class_names=np.array(["circle", "square", "star"]),
    )
    data = load_dataset(spec(name="npz", path=str(path)))
    assert data.class_names == ("circle", "square", "star")
    assert 15 < data.input_scale <= 16  # the largest raw value, for the model's Rescaling
    assert len(data.y_train) == 30 and data.y_val.tolist() == [0, 1, 2, 0, 1, 2]


def bad_npz_files(tmp: Path) -> dict[str, tuple[Path, str]]:
    """Broken npz files and the words their error line must hold (besides the path)."""
    good = mnist_arrays(n_train=20, n_test=10)
    x, y = good["x_train"], good["y_train"]
    text = tmp / "text.npz"
    text.write_text("x_train,y_train\n")
    cases = {
        "missing path": (tmp / "nowhere.npz", "no such file"),
        "not an npz": (text, "is not an npz file"),
        "wrong keys": (write_npz(tmp / "keys.npz", images=x, labels=y), "missing key 'x_train'"),
        "unknown key": (write_npz(tmp / "extra.npz", x_train=x, y_train=y, w=y), "unknown key 'w'"),
        "x without y": (write_npz(tmp / "pair.npz", x_train=x, y_train=y, x_test=x), "'y_test'"),
        "lengths differ": (write_npz(tmp / "len.npz", x_train=x, y_train=y[:-1]), "20 images"),
        "negative label": (
            write_npz(tmp / "neg.npz", x_train=x, y_train=y.astype(int) - 1),
            "label -1",
        ),
        "test label out of range": (
            write_npz(tmp / "range.npz", x_train=x, y_train=y, x_test=x, y_test=y + 5),
            "y_test holds label 14, out of range 0..9",
        ),
        "one-hot labels": (
            write_npz(tmp / "onehot.npz", x_train=x, y_train=np.eye(10)[y]),
            "one-hot",
        ),
        "1-based labels": (write_npz(tmp / "gap.npz", x_train=x, y_train=y + 1), "class 0"),
        "fractional labels": (
            write_npz(tmp / "frac.npz", x_train=x, y_train=y / 2),
            "whole class numbers",
        ),
        "not images": (
            write_npz(tmp / "flat.npz", x_train=x.reshape(20, -1), y_train=y),
            "(N, H, W)",
        ),
    }
    return cases


def test_bad_npz_files_stop_automl_validate_with_one_line_naming_path_and_key(
    tmp_path: Path,
) -> None:
    for case, (path, words) in bad_npz_files(tmp_path).items():
        study = study_file(tmp_path, {"name": "npz", "path": str(path)})
        result = CliRunner().invoke(app, ["validate", str(study)])
        assert result.exit_code == 2, case
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), (case, result.output)
        assert str(path) in lines[0] and words in lines[0], (case, lines[0])


def test_max_samples_is_an_exact_stratified_subset(tmp_path: Path) -> None:
    y = np.array([0] * 60 + [1] * 30 + [2] * 10)
    keep = subset(y, 20, seed=0)
    assert len(keep) == 20 and np.bincount(y[keep]).tolist() == [12, 6, 2]
    assert (subset(y, 20, seed=0) == keep).all() and (subset(y, 20, seed=1) != keep).any()

    path = write_npz(tmp_path / "m.npz", **mnist_arrays(n_train=100))
    with pytest.raises(DataError, match="max_samples: 15 leaves fewer than two images per class"):
        check_dataset(spec(name="npz", path=str(path), max_samples=15))


# ---------------------------------------------------------------------------- Keras's data sets


def test_mnist_from_the_keras_cache_or_from_a_path(keras_home: Path, tmp_path: Path) -> None:
    arrays = mnist_arrays(n_train=40, n_test=20)
    write_npz(keras_home / "datasets" / "mnist.npz", **arrays)
    data = load_dataset(spec(name="mnist"))
    assert data.class_names == tuple(str(i) for i in range(10))
    assert data.input_shape == (28, 28, 1) and data.x_train.dtype == np.uint8
    assert data.x_test is not None and (data.x_test[..., 0] == arrays["x_test"]).all()

    copy = write_npz(tmp_path / "my-mnist-copy.npz", **arrays)
    assert "my-mnist-copy.npz" in check_dataset(spec(name="mnist", path=str(copy)))


@pytest.mark.slow  # starts a Python that imports TensorFlow
def test_fashion_mnist_reads_what_keras_reads(keras_home: Path) -> None:
    write_fashion(keras_home / "datasets" / "fashion-mnist", n_train=30, n_test=10)
    data = load_dataset(spec(name="fashion_mnist"), seed=0)
    assert data.class_names[:3] == ("T-shirt/top", "Trouser", "Pullover")
    assert data.input_shape == (28, 28, 1) and len(data.y_train) + len(data.y_val) == 30

    # Keras's own loader, in a fresh process so that it sees this KERAS_HOME, reads the same.
    keras_read = keras_home / "keras_read.npz"
    code = (
        "import keras, numpy as np, sys\n"
        "(x, y), (xt, yt) = keras.datasets.fashion_mnist.load_data()\n"
        "np.savez(sys.argv[1], x=x, y=y, xt=xt, yt=yt)\n"
    )
    subprocess.run([sys.executable, "-c", code, str(keras_read)], check=True, timeout=120)
    with np.load(keras_read) as theirs:
        assert data.x_test is not None and data.y_test is not None
        assert (data.x_test[..., 0] == theirs["xt"]).all()
        assert (data.y_test == theirs["yt"]).all()
        ours = np.concatenate([data.x_train, data.x_val])[..., 0]
        assert sorted(map(bytes, ours)) == sorted(map(bytes, theirs["x"]))


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


def test_a_path_without_the_keras_files_names_what_it_expected(tmp_path: Path) -> None:
    (tmp_path / "cifar-100-python").mkdir()
    (tmp_path / "cifar-100-python" / "train").write_bytes(b"")
    with pytest.raises(DataError, match=r"holds no CIFAR-100 files; expected cifar-100-python"):
        check_dataset(spec(name="cifar100", path=str(tmp_path)))

    folder = write_fashion(tmp_path / "fashion")
    broken = folder / "t10k-images-idx3-ubyte.gz"
    broken.write_text("not gzip")
    with pytest.raises(DataError, match=f"{broken}: not a gzipped IDX file"):
        check_dataset(spec(name="fashion_mnist", path=str(folder)))


@pytest.mark.slow
def test_offline_run_says_which_file_to_put_where_before_anything_starts(
    keras_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No network in tests: even where there is one, Keras's download goes to a closed port.
    for var in ("https_proxy", "http_proxy", "HTTPS_PROXY", "HTTP_PROXY"):
        monkeypatch.setenv(var, "http://127.0.0.1:9")
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    study = study_file(tmp_path, {"name": "mnist"})

    checked = CliRunner().invoke(app, ["validate", str(study)])
    assert checked.exit_code == 0 and "not in the Keras cache yet" in checked.output

    result, stored = run_in(tmp_path, study)
    assert result.exit_code == 2
    errors = [line for line in result.output.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1
    assert f"put mnist.npz in {keras_home / 'datasets'}" in errors[0]
    assert "could not be downloaded" in errors[0] and "npz or folder" in errors[0]
    assert not any(p.exists() for p in stored)


def test_bad_data_stops_automl_run_before_a_study_or_worker_exists(tmp_path: Path) -> None:
    bad = write_npz(tmp_path / "bad.npz", x_train=np.zeros((4, 8, 8)), y_train=np.arange(3))
    study = study_file(tmp_path, {"name": "npz", "path": str(bad)})
    result, stored = run_in(tmp_path, study)
    assert result.exit_code == 2
    assert result.output.strip() == (f"error: {bad}: x_train holds 4 images but y_train 3 labels")
    assert not any(p.exists() for p in stored)


def test_check_dataset_imports_no_tensorflow(tmp_path: Path) -> None:
    root = write_folder(tmp_path / "f", {"a": 2, "b": 2})
    npz = write_npz(tmp_path / "m.npz", **mnist_arrays(n_train=20, n_test=10))
    code = (
        "import sys\n"
        "from automl.data.dataset import check_dataset\n"
        "from automl.spec.schema import DatasetSpec\n"
        "check_dataset(DatasetSpec(name='folder', path=sys.argv[1]))\n"
        "check_dataset(DatasetSpec(name='npz', path=sys.argv[2]))\n"
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code, str(root), str(npz)], check=True, timeout=60)


# ---------------------------------------------------------------------------- the pipeline


def test_pipeline_casts_batches_and_reshuffles_every_epoch_from_its_seed(tmp_path: Path) -> None:
    root = write_folder(tmp_path / "f", {"a": 20, "b": 20, "c": 20}, size=(6, 6))
    data = load_dataset(spec(name="folder", path=str(root)))
    train, val = pipelines(data, batch_size=16, seed=7)

    def epoch(dataset: object) -> tuple[np.ndarray, np.ndarray]:
        batches = list(dataset)  # type: ignore[call-overload]
        assert all(x.dtype.name == "float32" and x.shape[1:] == (6, 6, 3) for x, _ in batches)
        return (
            np.concatenate([x.numpy() for x, _ in batches]),
            np.concatenate([y.numpy() for _, y in batches]),
        )

    x1, y1 = epoch(train)
    x2, _ = epoch(train)
    # Every training image once per epoch, with its own label, in a new order each epoch.
    order = [next(i for i, raw in enumerate(data.x_train) if (raw == x).all()) for x in x1]
    assert sorted(order) == list(range(len(data.y_train)))
    assert (y1 == data.y_train[order]).all()
    assert (x1 != x2).any()
    # The same seed replays the same order; validation is neither shuffled nor changed.
    again, _ = epoch(pipelines(data, batch_size=16, seed=7)[0])
    assert (again == x1).all()
    xv, yv = epoch(val)
    assert (xv == data.x_val).all() and (yv == data.y_val).all()
    assert data.x_train.dtype == np.uint8  # the only copy stays raw


@pytest.mark.slow
def test_augmented_training_on_uint8_images_and_scoring_the_raw_test_set(tmp_path: Path) -> None:
    from automl.search.space import Hyperparameters
    from automl.train.model import build_model

    arrays = mnist_arrays(n_train=60, n_test=20, side=12)
    path = write_npz(tmp_path / "small.npz", **arrays)
    data = load_dataset(spec(name="npz", path=str(path)))
    hp = Hyperparameters(augment="flip_translate", depth=1, width=8, learning_rate=0.01)
    model = build_model(hp, data.input_shape, data.num_classes, data.input_scale)
    train, val = pipelines(data, hp.batch_size, seed=0)
    history = model.fit(train, validation_data=val, epochs=2, verbose=0, shuffle=False)
    assert np.isfinite(history.history["loss"]).all() and "val_accuracy" in history.history
    # Augmentation is for training only: predictions on the raw uint8 test set repeat exactly.
    assert data.x_test is not None and data.x_test.dtype == np.uint8
    first = model.predict(data.x_test, verbose=0)
    assert (model.predict(data.x_test, verbose=0) == first).all()
    loss, accuracy = model.evaluate(data.x_test, data.y_test, verbose=0)
    assert np.isfinite(loss) and 0.0 <= accuracy <= 1.0


@pytest.mark.slow
def test_a_study_on_a_folder_of_images_runs_in_worker_processes(tmp_path: Path) -> None:
    from automl.run.supervisor import run_study
    from automl.spec.reading import load_spec

    root = write_folder(tmp_path / "shapes", {"circle": 16, "square": 16}, size=(12, 12))
    study = study_file(
        tmp_path,
        {"name": "folder", "path": str(root), "image_size": 8},
        epochs=2,
        trials=2,
        sampler={"name": "grid"},
        pruner="none",
        params={"augment": ["none", "flip_translate"], "depth": 1, "width": 4},
    )
    result = run_study(load_spec(study), str(tmp_path / "study.journal"), None, workers=1)
    assert result.states == {"COMPLETE": 2}
    assert result.best_hyperparameters["augment"] in ("none", "flip_translate")
