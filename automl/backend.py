"""Keras on TensorFlow, loaded once per process without TensorFlow's start-up chatter.

`load_keras` is where a process first imports TensorFlow: its imports sit inside it (not at
this module's top), so importing this module stays light, and every other module that uses
Keras is imported after it has run (`automl.run.preload` for the fork server).

TensorFlow 2.21 writes absl and oneDNN notices straight to file descriptor 2 while it imports,
before any log level applies (TF_CPP_MIN_LOG_LEVEL does not stop them). They tell a user of
automl nothing, and every worker process would print them again.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from types import ModuleType


@contextlib.contextmanager
def _stderr_silenced() -> Iterator[None]:
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def load_keras() -> ModuleType:
    """Import TensorFlow and Keras quietly (the first time in this process) and return Keras.

    Deliberately the one function-local import of TensorFlow in automl: the light commands
    never call it, so they never pay for TensorFlow."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if "tensorflow" not in sys.modules:
        with _stderr_silenced():
            import keras
            import tensorflow  # noqa: F401 - its import is what prints
    import keras

    return keras
