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

import numpy as np

from automl.data.sources.base import Images, Select, Summary

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
