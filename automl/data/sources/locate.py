"""The one place that maps `dataset.name` to the source that reads it: a new format adds
its module under `sources` and a branch here.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from automl.data.sources.base import Source
from automl.data.sources.digits import Digits
from automl.data.sources.distorted import Distorted
from automl.data.sources.folder import Folder
from automl.data.sources.keras_cache import KERAS_SETS, keras_source
from automl.data.sources.npz import Npz
from automl.errors import DataError
from automl.spec.schema import GENERATED, DatasetSpec


def locate(spec: DatasetSpec, fetch: Callable[[str], None] | None) -> Source | None:
    """The source a spec names; None only for a Keras set that is not local and not fetched."""
    if spec.name == "digits":
        return Digits()
    if spec.name in GENERATED:
        return Distorted(spec)
    if spec.name == "npz":
        return Npz(Path(str(spec.path)).expanduser(), resized=spec.image_size is not None)
    if spec.name == "folder":
        return Folder(spec)
    if spec.name in KERAS_SETS:
        return keras_source(spec, fetch)
    raise DataError(f"dataset.name: {spec.name} is not available in this version")
