"""What every worker process needs, imported once by the server that forks the workers
(`automl.run.processes.worker_context`): importing this module is its whole purpose.

Keras first, through `load_keras`, so TensorFlow's import is quiet; then the modules that
import TensorFlow, Keras and MLflow at their top. (MLflow's database store, which a local MLflow
store needs and a server's client does not, is preloaded before this where it is needed:
`automl.run.processes.SQL_STORE`.) Python keeps these imports' objects forever;
freezing them keeps each worker's garbage collections off them, and so also keeps the pages
they share with the server unwritten.
"""

import gc

from automl.backend import load_keras

load_keras()

import mlflow.entities  # noqa: E402, F401
import mlflow.keras  # noqa: E402, F401 - the last worker logs the best model with it
import optuna  # noqa: E402, F401
import psutil  # noqa: E402, F401

import automl.run.finalize  # noqa: E402, F401
import automl.run.worker  # noqa: E402, F401

gc.collect()
gc.freeze()
