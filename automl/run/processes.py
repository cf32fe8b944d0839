"""Keras on TensorFlow, loaded once per process without TensorFlow's start-up chatter, and
the processes that start with it already loaded (workers).

TensorFlow 2.21 writes absl and oneDNN notices straight to file descriptor 2 while it imports,
before any log level applies (TF_CPP_MIN_LOG_LEVEL does not stop them). They tell a user of
automl nothing, and every worker process would print them again.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.context
import multiprocessing.forkserver
import os
from collections.abc import Callable
from typing import Any, cast


def worker_context() -> multiprocessing.context.ForkServerContext:
    """Where worker processes come from: forked from one server process that has imported
    TensorFlow, Keras, Optuna and MLflow once (`automl.preload`, about 6 s), so a worker that
    replaces a retired one starts in a fraction of a second instead of importing them again.

    The server never runs a TensorFlow op, so no TensorFlow thread pool or device exists to be
    broken by the fork; each worker sets its threads and GPU before its first op.
    """
    ctx = cast(multiprocessing.context.ForkServerContext, multiprocessing.get_context("forkserver"))
    ctx.set_forkserver_preload(["automl.run.preload"])
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
