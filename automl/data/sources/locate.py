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

from collections.abc import Callable
from pathlib import Path

from automl.data.sources.base import Source
from automl.data.sources.digits import _Digits
from automl.data.sources.folder import _Folder
from automl.data.sources.keras_cache import KERAS_SETS, _keras_source
from automl.data.sources.npz import _Npz
from automl.errors import DataError
from automl.spec.schema import DatasetSpec

# ---------------------------------------------------------------------------- locating


def locate(spec: DatasetSpec, fetch: Callable[[str], None] | None) -> Source | None:
    """The source a spec names; None only for a Keras set that is not local and not fetched."""
    if spec.name == "digits":
        return _Digits()
    if spec.name == "npz":
        return _Npz(Path(str(spec.path)).expanduser())
    if spec.name == "folder":
        return _Folder(spec)
    if spec.name in KERAS_SETS:
        return _keras_source(spec, fetch)
    raise DataError(f"dataset.name: {spec.name} is not available in this version")
