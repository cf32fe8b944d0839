"""The tf.data pipelines a trial trains and validates on, made from a loaded `Dataset`.

This module imports TensorFlow at its top: only the training code imports it, never the light
commands (`automl validate` checks data through `automl.data.dataset`).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from automl.data.dataset import Dataset


def pipelines(data: Dataset, batch_size: int, seed: int) -> tuple[tf.data.Dataset, tf.data.Dataset]:
    """Training (reshuffled each epoch, seeded) and validation tf.data pipelines, prefetched."""
    return (
        _batches(data.x_train, data.y_train, batch_size, seed),
        _batches(data.x_val, data.y_val, max(batch_size, 256), None),
    )


def _batches(x: np.ndarray, y: np.ndarray, batch_size: int, seed: int | None) -> tf.data.Dataset:
    """Batches gathered from the arrays by index, cast to float32 one batch at a time.

    The arrays are the cache: they are already in memory, once, in their raw dtype. Slicing them
    with `from_tensor_slices(...).cache().shuffle(n)` would hold two more copies (a tensor and
    the cache) plus a shuffle buffer of images; shuffling indices holds none
    (benchmarks/data_memory.py measures both).
    """

    def gather(index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return x[index], y[index].astype(np.int64, copy=False)

    def batch(index: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        xb, yb = tf.numpy_function(
            gather, [index], (tf.as_dtype(x.dtype), tf.int64), stateful=False
        )
        xb.set_shape((None, *x.shape[1:]))
        yb.set_shape((None,))
        return tf.cast(xb, tf.float32), yb

    indices = tf.data.Dataset.range(len(y))
    if seed is not None:
        indices = indices.shuffle(len(y), seed=seed, reshuffle_each_iteration=True)
    # tf.data's autotuner keeps a worker's CPU busy tuning a gather it cannot speed up: workers
    # side by side on one machine then slow each other's later epochs, and a worker alone
    # trains no faster with it (measured by `python -m benchmarks.hot_path --only autotune`).
    # With it off, AUTOTUNE means min(16, cores), fixed.
    options = tf.data.Options()
    options.autotune.enabled = False
    return (
        indices.batch(batch_size)
        .map(batch, num_parallel_calls=tf.data.AUTOTUNE)
        .prefetch(tf.data.AUTOTUNE)
        .with_options(options)
    )
