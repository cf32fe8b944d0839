"""A study's data set as the trials use it, and the two steps that get it there.

Two steps, so a user's mistake stops before anything trains:
- `check_dataset` finds the files and checks all it can without decoding pixels, with numpy and
  PIL only: `automl run` calls it before it starts a worker, and `automl validate` too;
- `load_dataset` (each worker, once per process) reads the pixels, takes the `max_samples`
  subset (`subset`), converts colours, resizes once, and splits (`split`, stratified, seeded).

Images stay raw (uint8 0..255, digits 0..16) and are held once, in their own dtype; the model
rescales them itself (so a saved model takes raw inputs) and the pipeline casts each batch to
float32 on its way in. The test set, where there is one, is kept in the same form and never
used by the search.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np
import psutil
from PIL import Image

from automl.data.sources.base import Summary
from automl.data.sources.keras_cache import download, download_in_child, expected, to_download
from automl.data.sources.locate import locate
from automl.errors import DataError
from automl.spec.schema import DatasetSpec


@dataclass(frozen=True, eq=False)
class Dataset:
    """A data set loaded, subset, shaped and split: what the trials train and validate on."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray | None  # never used by the search: the best model is scored on it
    y_test: np.ndarray | None
    class_names: tuple[str, ...]
    input_scale: float  # the largest raw value: the model divides by it
    description: str

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(int(s) for s in self.x_train.shape[1:])

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


# ---------------------------------------------------------------------------- entry points


def check_dataset(spec: DatasetSpec, fetch: bool = True) -> str:
    """Find and check a data set without TensorFlow; returns a one-line description.

    With `fetch`, a Keras data set missing from the cache is downloaded first (by Keras, in a
    child process, so this process stays free of TensorFlow); without it, the description says
    it will be downloaded.
    """
    source = locate(spec, download_in_child if fetch else None)
    if source is None:
        _check_memory(spec, expected(spec.name))
        return to_download(spec.name)
    summary = source.check()
    _check_options(spec, summary)
    _check_memory(spec, summary)
    return summary.description


@functools.lru_cache(maxsize=4)
def load_dataset(spec: DatasetSpec, seed: int = 0) -> Dataset:
    """Load, subset, reshape and split a data set; cached so a worker loads it once."""
    source = locate(spec, download)
    assert source is not None  # download either leaves the files or raises
    summary = source.check()
    _check_options(spec, summary)
    images = source.read(functools.partial(subset, n=spec.max_samples, seed=seed))
    x = _reshape(images.x, spec, "x_train")
    x_val = None if images.x_val is None else _reshape(images.x_val, spec, "x_val")
    x_test = None if images.x_test is None else _reshape(images.x_test, spec, "x_test")
    if x_val is not None and images.y_val is not None:
        x_train, y_train, y_val = x, images.y, images.y_val
    else:
        x_train, y_train, x_val, y_val = split(x, images.y, spec.validation_split, seed)
    if len(y_val) == 0:
        raise DataError(
            f"dataset: {len(y_train)} training images in {summary.num_classes} classes leave "
            "none for validation; give more images (or a larger max_samples)"
        )
    return Dataset(
        x_train=x_train,
        y_train=y_train,
        x_val=x_val,
        y_val=y_val,
        x_test=x_test,
        y_test=images.y_test,
        class_names=images.class_names,
        input_scale=images.input_scale,
        description=images.description,
    )


# ---------------------------------------------------------------------------- subsets and splits


def subset(y: np.ndarray, n: int | None, seed: int) -> np.ndarray:
    """Indices of a stratified, seeded subset of `n` labels (all of them without `n`)."""
    if n is None or n >= len(y):
        return np.arange(len(y))
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(y, return_counts=True)
    quota = counts * n / len(y)
    take = np.floor(quota).astype(np.int64)
    # Largest remainders get the images left over, so the subset has exactly n.
    take[np.argsort(take - quota, kind="stable")[: n - int(take.sum())]] += 1
    chosen = [
        rng.choice(np.flatnonzero(y == c), t, replace=False)
        for c, t in zip(classes, take, strict=True)
    ]
    return np.sort(np.concatenate(chosen))


def split(
    x: np.ndarray, y: np.ndarray, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A stratified, seeded split: `fraction` of each class goes to validation."""
    rng = np.random.default_rng(seed)
    val_idx: list[np.ndarray] = []
    for label in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == label))
        take = max(1, int(round(len(idx) * fraction))) if len(idx) > 1 else 0
        val_idx.append(idx[:take])
    val = np.sort(np.concatenate(val_idx)) if val_idx else np.array([], dtype=np.int64)
    mask = np.ones(len(y), dtype=bool)
    mask[val] = False
    train = rng.permutation(np.flatnonzero(mask))
    return x[train], y[train], x[val], y[val]


# ---------------------------------------------------------------------------- options


def _check_options(spec: DatasetSpec, summary: Summary) -> None:
    if spec.max_samples is not None and spec.max_samples < 2 * summary.num_classes:
        raise DataError(
            f"dataset.max_samples: {spec.max_samples} leaves fewer than two images per class "
            f"({summary.num_classes} classes); use at least {2 * summary.num_classes}"
        )


def _check_memory(spec: DatasetSpec, summary: Summary) -> None:
    """The arrays a worker holds (as read, and resized or recoloured) fit in the memory this
    machine has available now: a size that cannot is refused before anything is loaded."""
    height, width, stored = summary.shape
    channels = {"grayscale": 1, "rgb": 3}.get(spec.color_mode or "", stored)
    size = spec.image_size or (height, width)
    train = summary.train if spec.max_samples is None else min(spec.max_samples, summary.train)
    images = train + summary.held_out
    needed = images * size[0] * size[1] * channels * summary.itemsize
    if (*size, channels) != summary.shape:  # the arrays as read are held while converted
        needed += (summary.train + summary.held_out) * height * width * stored * summary.itemsize
    available = psutil.virtual_memory().available
    if needed > available:
        field = "dataset.image_size" if spec.image_size is not None else "dataset"
        raise DataError(
            f"{field}: {images:,} images of {size[0]}x{size[1]}x{channels} values "
            f"({_bytes(summary.itemsize)} each) need about {_bytes(needed)} of memory, more "
            f"than the {_bytes(available)} this machine has available; use a smaller "
            "dataset.image_size or dataset.max_samples"
        )


def _bytes(n: int) -> str:
    """A size in bytes as people read it: 1.5 GiB, 65.0 TiB."""
    value = float(n)
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024:
            return f"{n} byte{'s' * (n != 1)}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} PiB"


# ---------------------------------------------------------------------------- shapes and colours


def _reshape(x: np.ndarray, spec: DatasetSpec, key: str) -> np.ndarray:
    """(N, H, W[, C]) raw images -> (N, H, W, C) in the study's colour mode and image size."""
    if x.ndim == 3:
        x = x[..., None]
    x = _to_color_mode(x, spec.color_mode, key)
    if spec.image_size is not None and x.shape[1:3] != spec.image_size:
        out = np.empty((len(x), *spec.image_size, x.shape[-1]), dtype=x.dtype)
        for i, image in enumerate(x):
            out[i] = _resize(image, spec.image_size)
        x = out
    return x


def _to_color_mode(x: np.ndarray, color_mode: str | None, key: str) -> np.ndarray:
    """(N, H, W, C) images with 1 channel for grayscale, 3 for rgb (as they are without a mode)."""
    channels = x.shape[-1]
    if color_mode == "grayscale" and channels != 1:
        if channels != 3:
            raise DataError(
                f"dataset.color_mode: grayscale needs 1 or 3 channels, {key} has {channels}"
            )
        # ITU-R 601 luma, as PIL's convert("L") computes it.
        luma = x @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
        return _cast_like(luma[..., None], x.dtype)
    if color_mode == "rgb" and channels != 3:
        if channels != 1:
            raise DataError(f"dataset.color_mode: rgb needs 1 or 3 channels, {key} has {channels}")
        return np.repeat(x, 3, axis=-1)
    return x


def _resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """One (H, W, C) image resized bilinearly (antialiased when shrinking), same dtype."""
    height, width = size
    if image.dtype == np.uint8 and image.shape[-1] in (1, 3):
        pil = Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image)
        resized = pil.resize((width, height), Image.Resampling.BILINEAR)
        return np.asarray(resized).reshape(height, width, -1)
    channels = [
        np.asarray(
            Image.fromarray(image[..., c].astype(np.float32)).resize(
                (width, height), Image.Resampling.BILINEAR
            )
        )
        for c in range(image.shape[-1])
    ]
    return _cast_like(np.stack(channels, axis=-1), image.dtype)


def _cast_like(values: np.ndarray, dtype: np.dtype[Any]) -> np.ndarray:
    """Computed pixels back in the images' dtype: integers rounded and clipped to its range."""
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        values = np.clip(np.rint(values), info.min, info.max)
    return values.astype(dtype)
