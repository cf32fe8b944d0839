"""The digits source: scikit-learn's bundled 8x8 digits, the data set of the examples and tests.

Nothing to find or download, so the check is a description; the read loads scikit-learn.
"""

from __future__ import annotations

import numpy as np

from automl.data.sources.base import Images, Select, Summary


class Digits:
    """scikit-learn's bundled digits: 8x8 grayscale, values 0..16; nothing to download."""

    description = "scikit-learn digits: 1,797 8x8 grayscale images, values 0-16, 10 classes"

    def check(self) -> Summary:
        # 1,797 float32 images, as `read` gives them.
        return Summary(self.description, 10, (8, 8, 1), 4, train=1797)

    def read(self, select: Select) -> Images:
        # Imported here, not at the top: sklearn.datasets brings scipy, which would slow every
        # `automl validate` (it imports this module), and only a worker reading digits needs it
        # (measure with `python -X importtime -c "import sklearn.datasets"`).
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
