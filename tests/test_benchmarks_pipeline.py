"""benchmarks/pipeline.py: its feeds differ only in how batches reach the model."""

from __future__ import annotations

import numpy as np
import pytest

from automl.data.dataset import load_dataset
from automl.spec.schema import DatasetSpec
from benchmarks.pipeline import FEEDS, fit_inputs


def _epoch(feed: str, data: object) -> tuple[np.ndarray, np.ndarray]:
    inputs = fit_inputs(feed, data, batch_size=32, seed=0)
    xs, ys = zip(*((x.numpy(), y.numpy()) for x, y in inputs["x"]), strict=True)
    assert {x.dtype for x in xs} == {np.dtype(np.float32)}
    return np.concatenate(xs), np.concatenate(ys)


@pytest.mark.parametrize("feed", [f for f in FEEDS if f != "numpy"])
def test_every_feed_gives_each_training_image_once_an_epoch_as_float32(
    feed: str, tmp_path: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUTOML_DATA_CACHE", str(tmp_path))
    data = load_dataset(DatasetSpec(name="distorted_digits", train_size=300, test_size=50), 0)
    x, y = _epoch(feed, data)
    rows = x.reshape(len(x), -1)
    want = data.x_train.reshape(len(data.x_train), -1).astype(np.float32)
    order, wanted = np.lexsort(rows.T[::-1]), np.lexsort(want.T[::-1])
    np.testing.assert_array_equal(rows[order], want[wanted])
    np.testing.assert_array_equal(y[order], data.y_train[wanted])
    assert not np.array_equal(y, data.y_train)  # shuffled, as automl's training feed is
