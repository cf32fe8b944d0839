"""Hyperparameters -> a compiled Keras CNN, its optimizer, and its training state built ahead
of `fit`. Pure: no I/O, no global state beyond Keras's own (cleared between trials here).

Each block is Conv -> [BatchNorm] -> ReLU -> MaxPool -> [Dropout]. With batch normalization
the convolution has no bias (BN's β replaces it) and BN normalizes the pre-activation, as in
the lesson: z_norm = (z - μ)/sqrt(σ² + ε), z̃ = γ·z_norm + β, then the activation.
Pooling stops once the feature map is 1 pixel wide, so any depth builds.
"""

from __future__ import annotations

import threading

import keras
import numpy as np
from keras import layers, optimizers, regularizers

from automl.search.space import Hyperparameters
from automl.train.fused_adam import fuse_adam_update

# Filters double per block up to this cap (or the first block's width, if larger), so deep
# models stay affordable.
MAX_FILTERS = 256


# keras.backend.clear_session() replaces the Keras state of every thread at once: a model that
# another thread is saving (the tracker's writer) would lose its serialization scopes halfway.
# Clearing and saving take turns on this lock.
KERAS_STATE = threading.Lock()


def clear_keras_state() -> None:
    """Reset Keras's global state (names, graph, kernel caches) before the next model."""
    with KERAS_STATE:
        keras.backend.clear_session()


def block_filters(hp: Hyperparameters) -> list[int]:
    """Filters of each convolution block."""
    cap = max(hp.width, MAX_FILTERS)
    return [min(hp.width * 2**i, cap) for i in range(hp.depth)]


def build_model(
    hp: Hyperparameters,
    input_shape: tuple[int, ...],
    num_classes: int,
    input_scale: float,
    fused_adam: bool = True,
) -> keras.Model:
    """A compiled CNN that takes raw inputs (values 0..input_scale) and outputs class scores.

    `fused_adam`: Adam and AdamW update with TensorFlow's fused kernel (`fuse_adam_update`);
    False leaves Keras's own update, as a hand-written script gets it (the benchmarks' yardstick).
    """
    inputs = keras.Input(shape=input_shape, name="image")
    x = layers.Rescaling(1.0 / input_scale, name="rescale")(inputs)
    if hp.augment in ("flip", "flip_translate"):
        x = layers.RandomFlip("horizontal", name="augment_flip")(x)
    if hp.augment in ("translate", "flip_translate"):
        x = layers.RandomTranslation(0.1, 0.1, fill_mode="constant", name="augment_shift")(x)
    reg = regularizers.L2(hp.l2) if hp.l2 > 0 else None
    size = min(input_shape[0], input_shape[1])
    for i, filters in enumerate(block_filters(hp)):
        x = layers.Conv2D(
            filters,
            3,
            padding="same",
            use_bias=not hp.batch_norm,
            kernel_regularizer=reg,
            name=f"conv{i + 1}",
        )(x)
        if hp.batch_norm:
            x = layers.BatchNormalization(momentum=hp.bn_momentum, name=f"bn{i + 1}")(x)
        x = layers.Activation("relu", name=f"relu{i + 1}")(x)
        if size >= 2:
            x = layers.MaxPooling2D(2, name=f"pool{i + 1}")(x)
            size //= 2
        if hp.dropout > 0:
            x = layers.Dropout(hp.dropout, name=f"dropout{i + 1}")(x)
    x = layers.Flatten(name="flatten")(x)
    outputs = layers.Dense(
        num_classes, activation="softmax", kernel_regularizer=reg, name="classes"
    )(x)
    model = keras.Model(inputs, outputs, name="automl_cnn")
    optimizer = make_optimizer(hp)
    if fused_adam:
        fuse_adam_update(optimizer)
    model.compile(
        optimizer=optimizer,
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def build_training_state(model: keras.Model, x: np.ndarray, y: np.ndarray) -> None:
    """Create the optimizer's, the loss's and the metrics' variables now, from a sample batch.

    On TensorFlow, Keras creates them while it traces the first training step, and a
    tf.function that created variables is traced a second time: every model paid for two traces
    of its training step, a large share of a short trial. Created here, eagerly,
    `fit` traces once and trains to the same numbers (nothing here runs the model: it draws no
    random numbers and moves no batch statistics).
    """
    x = np.asarray(x, dtype=np.float32)  # the dtype the pipelines feed
    y = np.asarray(y, dtype=np.int64)
    # Only the shapes matter: a prediction of zeros spares an eager forward pass.
    y_pred = np.zeros((len(x), *model.outputs[0].shape[1:]), dtype=np.float32)
    model.compute_loss(x, y, y_pred)
    model.compute_metrics(x, y, y_pred, sample_weight=None)
    model.optimizer.build(model.trainable_variables)
    model.reset_metrics()


def make_optimizer(hp: Hyperparameters) -> keras.optimizers.Optimizer:
    if hp.optimizer in ("adam", "adamw"):
        adam = optimizers.Adam if hp.optimizer == "adam" else optimizers.AdamW
        return adam(
            learning_rate=hp.learning_rate, beta_1=hp.beta_1, beta_2=hp.beta_2, epsilon=hp.epsilon
        )
    if hp.optimizer == "sgd":
        return optimizers.SGD(learning_rate=hp.learning_rate, momentum=hp.momentum)
    if hp.optimizer == "rmsprop":
        return optimizers.RMSprop(
            learning_rate=hp.learning_rate, momentum=hp.momentum, epsilon=hp.epsilon
        )
    raise ValueError(f"unknown optimizer {hp.optimizer!r}")
