"""The search: a StudySpec's params as Optuna suggestions and the trial's `Hyperparameters`
(space), the grid's cells (grid), and the spec's sampler and pruner (factories).

Imports Optuna but never TensorFlow, Keras or MLflow, so `automl validate` and `automl new`
may use it.
"""
