"""The folder source: one subfolder of images per class, the sorted names being the classes.

The check opens every image with PIL for its size and mode, without decoding pixels, and
remembers what it found (`Scan`) so that the read decodes only the selected images.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from automl.data.sources.base import Images, Select, Summary, check_splittable
from automl.errors import DataError
from automl.spec.schema import DatasetSpec

GRAYSCALE_MODES = ("1", "L", "LA", "I", "I;16", "F")
# How far from a JPEG's end its end-of-image marker may lie (some writers pad after it).
JPEG_TAIL = 64


@dataclass(frozen=True)
class Scan:
    """What the check found: every image file and its label, and how to read them."""

    files: tuple[Path, ...]
    labels: np.ndarray
    class_names: tuple[str, ...]
    size: tuple[int, int]  # (height, width)
    mode: str  # PIL's mode to convert to: "L" or "RGB"


class Folder:
    """One subfolder per class (sorted names are the classes), PNG/JPEG images inside."""

    def __init__(self, spec: DatasetSpec) -> None:
        self.spec = spec
        self.root = Path(str(spec.path)).expanduser()
        self.scan: Scan | None = None

    def check(self) -> Summary:
        classes = _class_folders(self.root)
        files: list[Path] = []
        labels: list[int] = []
        sizes: dict[tuple[int, int], Path] = {}
        gray = True
        for label, folder in enumerate(classes):
            for path in _images_in(folder):
                size, image_gray = _probe(path)
                gray = gray and image_gray
                sizes.setdefault(size, path)
                files.append(path)
                labels.append(label)
        image_size = self.spec.image_size
        size = image_size if image_size is not None else _one_size(self.root, sizes)
        color = self.spec.color_mode or ("grayscale" if gray else "rgb")
        names = tuple(d.name for d in classes)
        check_splittable(np.array(labels, dtype=np.int64), names, self.root)
        self.scan = Scan(
            tuple(files),
            np.array(labels, dtype=np.int64),
            names,
            size,
            "L" if color == "grayscale" else "RGB",
        )
        shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
        return Summary(
            f"folder {self.root}: {len(files):,} images in {len(names)} classes ({shown}), "
            f"{size[0]}x{size[1]} {color}",
            len(names),
            (size[0], size[1], 1 if color == "grayscale" else 3),
            1,
            train=len(files),
        )

    def read(self, select: Select) -> Images:
        if self.scan is None:
            self.check()
        scan = self.scan
        assert scan is not None
        keep = select(scan.labels)
        height, width = scan.size
        x = np.empty((len(keep), height, width, 1 if scan.mode == "L" else 3), dtype=np.uint8)
        for i, index in enumerate(keep):
            x[i] = _decode(scan.files[index], scan.mode, scan.size).reshape(x.shape[1:])
        return Images(
            x=x,
            y=scan.labels[keep],
            class_names=scan.class_names,
            input_scale=255.0,
            description=f"folder {self.root}",
        )


def _class_folders(root: Path) -> list[Path]:
    """The class subfolders of `root`, sorted; at least two."""
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
    return classes


def _images_in(folder: Path) -> list[Path]:
    """A class folder's files, at any depth, sorted; hidden files and folders are skipped."""
    images = sorted(
        p
        for p in folder.rglob("*")
        if p.is_file() and not any(s.startswith(".") for s in p.relative_to(folder).parts)
    )
    if not images:
        raise DataError(f"{folder}: no images in class folder {folder.name!r}")
    return images


def _probe(path: Path) -> tuple[tuple[int, int], bool]:
    """An image's (height, width) and whether it is grayscale, from its header; a PNG's chunk
    checksums and a JPEG's end marker say whether it is whole, without decoding it."""
    try:
        with warnings.catch_warnings():
            # PIL only warns below twice its pixel limit; such an image is refused all the same.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                width, height = image.size
                gray = image.mode in GRAYSCALE_MODES
                kind = image.format
                image.verify()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise DataError(f"{path}: refused, {exc}") from None
    except (OSError, SyntaxError, ValueError):
        raise DataError(f"{path}: not an image, or a truncated one (PNG or JPEG)") from None
    if kind == "JPEG" and not _ends_jpeg(path):
        raise DataError(f"{path}: a truncated JPEG (it lacks the end-of-image marker)")
    return (height, width), gray


def _ends_jpeg(path: Path) -> bool:
    """A whole JPEG ends with the end-of-image marker FF D9 (give or take a few padding bytes)."""
    with open(path, "rb") as fp:
        fp.seek(max(0, path.stat().st_size - JPEG_TAIL))
        return b"\xff\xd9" in fp.read()


def _one_size(root: Path, sizes: dict[tuple[int, int], Path]) -> tuple[int, int]:
    """The images' common (height, width); images of several sizes need dataset.image_size."""
    if len(sizes) > 1:
        (a, path_a), (b, path_b) = list(sizes.items())[:2]
        raise DataError(
            f"{root}: images differ in size ({path_a} is {a[1]}x{a[0]}, {path_b} is "
            f"{b[1]}x{b[0]}); set dataset.image_size"
        )
    return next(iter(sizes))


def _decode(path: Path, mode: str, size: tuple[int, int]) -> np.ndarray:
    """One image's pixels in `mode` ("L" or "RGB"), resized bilinearly to (height, width)."""
    height, width = size
    try:
        with Image.open(path) as image:
            pixels = image.convert(mode)
            if pixels.size != (width, height):
                pixels = pixels.resize((width, height), Image.Resampling.BILINEAR)
            return np.asarray(pixels)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise DataError(f"{path}: cannot decode the image ({exc})") from None
