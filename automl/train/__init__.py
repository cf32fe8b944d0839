"""One trial's training: the Keras model built from hyperparameters, Adam's fused update, and
the objective Optuna calls.

Its modules import Keras at their top: a process imports them after `automl.backend.load_keras`
has imported TensorFlow quietly (the fork server does so first, in `automl.run.preload`).
"""
