"""The process boundary: children started by the name of their entry point, from a fork
server that has TensorFlow, Keras, Optuna and MLflow imported already.

The caller names the child's function as "module:function"; the child imports it. So the
supervisor never imports the worker's or the final step's modules, and with them TensorFlow:
`python -c "import automl.run.supervisor"` loads none of it.
"""

from __future__ import annotations

import importlib
import multiprocessing
import multiprocessing.context
import multiprocessing.forkserver
import os
from multiprocessing.process import BaseProcess
from typing import Any, cast

from automl.uris import is_server

# What the fork server imports once before it forks any child.
PRELOAD = "automl.run.preload"
# MLflow's database store: what a local store (automl's default) is written through. A worker
# that logs to an MLflow server never imports it, and the server's import spares the time.
SQL_STORE = "mlflow.store.tracking.sqlalchemy_store"


def worker_context(tracking_uri: str | None = None) -> multiprocessing.context.ForkServerContext:
    """Where children come from: forked from one server process that has imported TensorFlow,
    Keras, Optuna and MLflow once (`automl.run.preload`), so a worker that replaces a retired
    one starts in a fraction of a second instead of importing them again (the start-up cost is
    measured by benchmarks/overhead.py).

    The server never runs a TensorFlow op, so no TensorFlow thread pool or device exists to be
    broken by the fork; each worker sets its threads and GPU before its first op.

    The preload is settled by the first call, which starts the server: pass `tracking_uri` there
    (None: any store). Later calls return the running server's context.
    """
    ctx = cast(multiprocessing.context.ForkServerContext, multiprocessing.get_context("forkserver"))
    server = tracking_uri is not None and is_server(tracking_uri)
    # The store before PRELOAD, which freezes everything imported before its end.
    ctx.set_forkserver_preload([PRELOAD] if server else [SQL_STORE, PRELOAD])
    # Start it now: it imports while the caller does other work, and the first worker's
    # start waits only for what is left of that.
    multiprocessing.forkserver.ensure_running()
    return ctx


def start_process(target: str, args: tuple[Any, ...], name: str) -> BaseProcess:
    """A started child (from `worker_context`) running `target(*args)`, where `target` is
    "package.module:function", imported in the child."""
    # A forked process has the server's environment, which may be older than its caller's (a
    # test's, a library user's): it takes its caller's. (multiprocessing itself hands the
    # working directory over.)
    proc = worker_context().Process(
        target=run_target, args=(dict(os.environ), target, args), name=name
    )
    proc.start()
    return proc


def run_target(environ: dict[str, str], target: str, args: tuple[Any, ...]) -> None:
    """In the child: take the caller's environment, import `target` and call it."""
    os.environ.clear()
    os.environ.update(environ)
    module, _, function = target.partition(":")
    getattr(importlib.import_module(module), function)(*args)
