"""The folder source: one subfolder of PNGs per class, written by each test; its classes, split,
colour mode, sizes, the one-line errors of broken folders, and a study run on it."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from automl.cli.app import app
from automl.data.dataset import check_dataset, load_dataset
from automl.errors import DataError
from tests.data_files import refused_line, spec, study_file, write_folder


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


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares width x height pixels in a few bytes: a decompression bomb's header."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"")
    chunks = chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + chunks


def hostile_folders(tmp: Path) -> dict[str, tuple[Path, Path, str]]:
    """Folders whose images would stop a worker, not the check: the path its line names, and
    the words."""
    cases: dict[str, tuple[Path, Path, str]] = {}

    def one(case: str, file_name: str, content: bytes, words: str) -> None:
        root = write_folder(tmp / f"f{len(cases)}", {"cat": 2, "dog": 2})
        (root / "dog" / file_name).write_bytes(content)
        cases[case] = (root, root / "dog" / file_name, words)

    png = (tmp / "whole.png", tmp / "whole.jpg")
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(png[0])
    Image.fromarray(pixels).save(png[1])
    whole_png, whole_jpg = png[0].read_bytes(), png[1].read_bytes()
    one("50000x50000 bomb", "bomb.png", _png_header_only(50_000, 50_000), "decompression bomb")
    one("10000x10000 bomb", "big.png", _png_header_only(10_000, 10_000), "decompression bomb")
    one("PNG cut in half", "half.png", whole_png[: len(whole_png) // 2], "truncated")
    one("PNG without its end", "end.png", whole_png[:-6], "truncated")
    one("JPEG cut in half", "half.jpg", whole_jpg[: len(whole_jpg) // 2], "a truncated JPEG")
    one("text named .jpg", "notes.jpg", b"just some words\n", "not an image")
    one("an empty .png", "empty.png", b"", "not an image")
    lonely = write_folder(tmp / "lonely", {"cat": 3, "dog": 1})
    cases["a class of one image"] = (lonely, lonely, "class dog has 1 training image")
    return cases


@pytest.mark.parametrize("command", ["validate", "run"])
def test_hostile_images_are_one_line_naming_the_file_before_a_study_exists(
    tmp_path: Path, command: str
) -> None:
    for case, (path, named, words) in hostile_folders(tmp_path).items():
        line = refused_line(tmp_path, {"name": "folder", "path": str(path)}, command, case)
        assert str(named) in line and words in line, (case, line)


def test_whole_jpegs_pass_the_check(tmp_path: Path) -> None:
    root = tmp_path / "jpegs"
    for label in ("cat", "dog"):
        (root / label).mkdir(parents=True)
        for i in range(2):
            Image.fromarray(np.full((8, 8, 3), 40 * i, np.uint8)).save(root / label / f"{i}.jpg")
    assert "4 images in 2 classes" in check_dataset(spec(name="folder", path=str(root)))
