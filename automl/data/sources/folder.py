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

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from automl.data.sources.base import Images, Select, Summary
from automl.errors import DataError
from automl.spec.schema import DatasetSpec

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
