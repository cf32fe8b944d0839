"""Keras on TensorFlow, loaded once per process without TensorFlow's start-up chatter, and
the processes that start with it already loaded (workers).

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
    """Import TensorFlow and Keras quietly (the first time in this process) and return Keras."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if "tensorflow" not in sys.modules:
        with _stderr_silenced():
            import keras
            import tensorflow  # noqa: F401 - its import is what prints
    import keras

    return keras
