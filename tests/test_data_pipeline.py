"""automl.data.pipeline: tf.data batches cast from the raw images, reshuffled each epoch from
their seed, and a model trained on them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from automl.data.dataset import load_dataset
from automl.data.pipeline import pipelines
from tests.data_files import mnist_arrays, spec, write_folder, write_npz


def test_pipeline_casts_batches_and_reshuffles_every_epoch_from_its_seed(tmp_path: Path) -> None:
    root = write_folder(tmp_path / "f", {"a": 20, "b": 20, "c": 20}, size=(6, 6))
    data = load_dataset(spec(name="folder", path=str(root)))
    train, val = pipelines(data, batch_size=16, seed=7)

    def epoch(dataset: object) -> tuple[np.ndarray, np.ndarray]:
        batches = list(dataset)  # type: ignore[call-overload]
        assert all(x.dtype.name == "float32" and x.shape[1:] == (6, 6, 3) for x, _ in batches)
        return (
            np.concatenate([x.numpy() for x, _ in batches]),
            np.concatenate([y.numpy() for _, y in batches]),
        )

    x1, y1 = epoch(train)
    x2, _ = epoch(train)
    # Every training image once per epoch, with its own label, in a new order each epoch.
    order = [next(i for i, raw in enumerate(data.x_train) if (raw == x).all()) for x in x1]
    assert sorted(order) == list(range(len(data.y_train)))
    assert (y1 == data.y_train[order]).all()
    assert (x1 != x2).any()
    # The same seed replays the same order; validation is neither shuffled nor changed.
    again, _ = epoch(pipelines(data, batch_size=16, seed=7)[0])
    assert (again == x1).all()
    xv, yv = epoch(val)
    assert (xv == data.x_val).all() and (yv == data.y_val).all()
    assert data.x_train.dtype == np.uint8  # the only copy stays raw


@pytest.mark.slow
def test_augmented_training_on_uint8_images_and_scoring_the_raw_test_set(tmp_path: Path) -> None:
    from automl.search.space import Hyperparameters
    from automl.train.model import build_model

    arrays = mnist_arrays(n_train=60, n_test=20, side=12)
    path = write_npz(tmp_path / "small.npz", **arrays)
    data = load_dataset(spec(name="npz", path=str(path)))
    hp = Hyperparameters(augment="flip_translate", depth=1, width=8, learning_rate=0.01)
    model = build_model(hp, data.input_shape, data.num_classes, data.input_scale)
    train, val = pipelines(data, hp.batch_size, seed=0)
    history = model.fit(train, validation_data=val, epochs=2, verbose=0, shuffle=False)
    assert np.isfinite(history.history["loss"]).all() and "val_accuracy" in history.history
    # Augmentation moves the training images and leaves the ones scored alone.
    import keras

    images = keras.ops.cast(data.x_train[:32], "float32")
    for name in ("augment_flip", "augment_shift"):
        layer = model.get_layer(name)
        moved = keras.ops.convert_to_numpy(layer(images, training=True))
        kept = keras.ops.convert_to_numpy(layer(images, training=False))
        assert not np.array_equal(moved, kept) and np.array_equal(kept, data.x_train[:32])
    # The raw uint8 test set is scored as its predictions say.
    assert data.x_test is not None and data.x_test.dtype == np.uint8
    predicted = model.predict(data.x_test, verbose=0).argmax(axis=1)
    loss, accuracy = model.evaluate(data.x_test, data.y_test, verbose=0)
    assert np.isfinite(loss)
    assert accuracy == pytest.approx(float((predicted == data.y_test).mean()), abs=1e-6)
