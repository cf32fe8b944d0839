"""Adam's update as one fused TensorFlow op (`fuse_adam_update`), put on an optimizer
instance in place of Keras's own update, which is many small ops per variable.
"""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf
from keras import optimizers


def fuse_adam_update(optimizer: keras.optimizers.Optimizer) -> None:
    """Let an Adam (or AdamW) optimizer update each variable with one fused TensorFlow op.

    Keras 3 writes Adam's update as a score of graph ops per variable, which every trial traces (its
    first epoch) and every training step runs. TensorFlow's ResourceApplyAdam kernel computes
    the same formula (alpha = lr·sqrt(1 − β2^t)/(1 − β1^t), m += (g − m)(1 − β1),
    v += (g² − v)(1 − β2), w −= alpha·m/(sqrt(v) + ε)) in one op; only float32 rounding of
    1 − β differs, so a trial's numbers can move in the last digits. The gain is in the first
    epoch, which traces the step; later epochs run about as fast as before (measured on digits
    by `python -m benchmarks.hot_path --only fused_adam`). AdamW decays the weights before
    `update_step`, so it gains the same way.

    The update is replaced on this instance only: a saved model still names Keras's own Adam
    and loads anywhere without automl. Other backends, AMSGrad and sparse gradients keep
    Keras's update.
    """
    if keras.backend.backend() != "tensorflow" or not isinstance(optimizer, optimizers.Adam):
        return
    if optimizer.amsgrad:
        return
    keras_update = optimizer.update_step

    def update_step(gradient: Any, variable: Any, learning_rate: Any) -> None:
        if isinstance(gradient, tf.IndexedSlices):
            keras_update(gradient, variable, learning_rate)
            return
        dtype = variable.dtype
        step = tf.cast(optimizer.iterations + 1, dtype)
        beta_1 = tf.cast(optimizer.beta_1, dtype)
        beta_2 = tf.cast(optimizer.beta_2, dtype)
        index = optimizer._get_variable_index(variable)
        tf.raw_ops.ResourceApplyAdam(
            var=variable.handle,
            m=optimizer._momentums[index].handle,
            v=optimizer._velocities[index].handle,
            beta1_power=tf.pow(beta_1, step),
            beta2_power=tf.pow(beta_2, step),
            lr=tf.cast(learning_rate, dtype),
            beta1=beta_1,
            beta2=beta_2,
            epsilon=tf.cast(optimizer.epsilon, dtype),
            grad=tf.cast(gradient, dtype),
        )

    optimizer.update_step = update_step
