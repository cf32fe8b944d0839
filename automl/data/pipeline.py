"""Data sets as the trials use them: loaded once per process, split once, fed by tf.data.

Two steps, so a user's mistake stops before anything trains:
- `check_dataset` finds the files and checks all it can without decoding pixels, with numpy and
  PIL only: `automl run` calls it before it starts a worker, and `automl validate` too;
- `load_dataset` (each worker, once per process) reads the pixels, takes the `max_samples`
  subset, converts colours, resizes once, and splits (stratified, seeded).

Images stay raw (uint8 0..255, digits 0..16) and are held once, in their own dtype; the model
rescales them itself (so a saved model takes raw inputs) and the pipeline casts each batch to
float32 on its way in. The test set, where there is one, is kept in the same form and never
used by the search.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from automl.data.dataset import Dataset

if TYPE_CHECKING:
    import tensorflow as tf


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
    import tensorflow as tf

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
    # tf.data's autotuner keeps a worker at ~1.2 cores while it trains with one TensorFlow thread,
    # for a gather it cannot speed up: two such workers side by side trained their later epochs
    # 1.59x slower than one alone with it, 1.13x without it, and alone no faster with it
    # (benchmarks/hot_path.py --only autotune). AUTOTUNE then means min(16, cores), fixed.
    options = tf.data.Options()
    options.autotune.enabled = False
    return (
        indices.batch(batch_size)
        .map(batch, num_parallel_calls=tf.data.AUTOTUNE)
        .prefetch(tf.data.AUTOTUNE)
        .with_options(options)
    )
