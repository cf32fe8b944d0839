"""The study file: what it may say (schema), how it is read (reading, and the command line's
overrides), and the rules it must keep (rules, with components for the sampler and pruner and
params for each hyperparameter), checked once, at the edge, into a frozen `StudySpec`.

It reads the file and nothing else, and imports no Optuna, TensorFlow or MLflow.
"""
