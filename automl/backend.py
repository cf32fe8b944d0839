"""Keras on TensorFlow, loaded once per process without TensorFlow's start-up chatter, and
the processes that start with it already loaded (workers).

TensorFlow 2.21 writes absl and oneDNN notices straight to file descriptor 2 while it imports,
before any log level applies (TF_CPP_MIN_LOG_LEVEL does not stop them). They tell a user of
automl nothing, and every worker process would print them again.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import multiprocessing.context
import multiprocessing.forkserver
import os
import sys
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any, cast


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


def worker_context() -> multiprocessing.context.ForkServerContext:
    """Where worker processes come from: forked from one server process that has imported
    TensorFlow, Keras, Optuna and MLflow once (`automl.preload`, about 6 s), so a worker that
    replaces a retired one starts in a fraction of a second instead of importing them again.

    The server never runs a TensorFlow op, so no TensorFlow thread pool or device exists to be
    broken by the fork; each worker sets its threads and GPU before its first op.
    """
    ctx = cast(multiprocessing.context.ForkServerContext, multiprocessing.get_context("forkserver"))
    ctx.set_forkserver_preload(["automl.preload"])
    # Start it now: it imports while the caller does other work, and the first worker's
    # start waits only for what is left of that.
    multiprocessing.forkserver.ensure_running()
    return ctx


def start_process(target: Callable[..., None], args: tuple[Any, ...], name: str) -> Any:
    """A started worker process (from `worker_context`) running `target(*args)`."""
    # A forked process has the server's environment, which may be older than its caller's (a
    # test's, a library user's): it takes its caller's. (multiprocessing itself hands the
    # working directory over.)
    proc = worker_context().Process(
        target=_with_environment, args=(dict(os.environ), target, args), name=name
    )
    proc.start()
    return proc


def _with_environment(
    environ: dict[str, str], target: Callable[..., None], args: tuple[Any, ...]
) -> None:
    os.environ.clear()
    os.environ.update(environ)
    target(*args)
