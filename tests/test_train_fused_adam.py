"""Adam's fused update: one TensorFlow op per variable, the same training as Keras's Adam,
and a saved model that names plain Keras Adam."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np

from automl.search.space import Hyperparameters
from automl.train.model import build_model, build_training_state


def _fit_adam(optimizer: str, fused: bool) -> tuple[keras.Model, list[float]]:
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    hp = Hyperparameters(optimizer=optimizer, depth=2, width=8, batch_norm=True, l2=1e-3)
    model = build_model(hp, (8, 8, 1), 10, 16.0, fused_adam=fused)
    rng = np.random.default_rng(0)
    x = rng.integers(0, 17, (96, 8, 8, 1)).astype(np.float32)
    y = rng.integers(0, 10, 96)
    build_training_state(model, x[:2], y[:2])
    history = model.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0)
    return model, history.history["loss"]


def _traced_op_types(model: keras.Model) -> set[str]:
    import tensorflow as tf

    step = tf.function(model.train_step).get_concrete_function(
        (tf.TensorSpec((None, 8, 8, 1), tf.float32), tf.TensorSpec((None,), tf.int64))
    )
    return {op.type for op in step.graph.get_operations()}


def test_adam_updates_with_the_fused_kernel_and_trains_as_keras_adam_does() -> None:
    for optimizer in ("adam", "adamw"):
        fused, fused_loss = _fit_adam(optimizer, fused=True)
        plain, plain_loss = _fit_adam(optimizer, fused=False)
        # One fused op per variable in automl's step; Keras's own update in the plain one.
        assert "ResourceApplyAdam" in _traced_op_types(fused)
        assert "ResourceApplyAdam" not in _traced_op_types(plain)
        # The same formula: only float32 rounding of 1 - β tells the two apart.
        np.testing.assert_allclose(fused_loss, plain_loss, rtol=1e-5)
        assert fused_loss[-1] < fused_loss[0]


def test_a_model_trained_with_the_fused_update_saves_as_plain_keras_adam(tmp_path: Path) -> None:
    model, _ = _fit_adam("adam", fused=True)
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    assert type(loaded.optimizer) is keras.optimizers.Adam
    assert loaded.optimizer.get_config() == model.optimizer.get_config()
