"""Where workers run: the interface the supervisor places them through, and its local
implementation, one process per worker forked on this machine.

A placement starts worker `index` with its `WorkerArgs`, reports which workers have exited and
how, retries the trials of the workers it knows to be gone, passes stop signals on, and makes
sure none outlives the run. The supervisor holds one and knows nothing else about where its
workers are. A cluster's placement is `automl.run.ray_placement.RayActors`.
"""

from __future__ import annotations

import multiprocessing.connection
import os
import signal
import time
from multiprocessing.process import BaseProcess
from typing import Protocol

import optuna
from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial

from automl.run.processes import start_process, worker_context
from automl.run.recovery import reap_dead_workers
from automl.run.worker_args import WorkerArgs

# The worker's entry point, started by name: see `automl.run.processes`.
WORKER_MAIN = "automl.run.worker:worker_main"
# How long workers get to end after the SIGTERM that ends a run that failed.
TERM_WAIT_SECONDS = 10.0


class Placement(Protocol):
    """What the supervisor needs from wherever its workers run."""

    def start(self, index: int, args: WorkerArgs) -> None: ...

    def running(self) -> set[int]: ...

    def exited(self) -> dict[int, int | None]: ...

    def error(self) -> str | None: ...

    def reap(self, study: optuna.Study, storage: BaseStorage) -> list[FrozenTrial]: ...

    def drop_spare(self) -> None: ...

    def signal(self, signum: int) -> None: ...

    def wait(self, seconds: float) -> None: ...

    def idle(self, seconds: float) -> None: ...

    def kill(self) -> None: ...


class LocalProcesses:
    """Workers as processes of this machine, forked from the fork server."""

    def __init__(self) -> None:
        # The fork server starts importing TensorFlow now, while the caller sets MLflow up.
        self._errors = worker_context().Queue()
        self._procs: dict[int, BaseProcess] = {}

    def start(self, index: int, args: WorkerArgs) -> None:
        self._procs[index] = start_process(
            WORKER_MAIN, (args, self._errors), f"automl-worker-{index}"
        )

    def running(self) -> set[int]:
        """The indices of the workers started and not yet reaped by `exited`."""
        return set(self._procs)

    def exited(self) -> dict[int, int | None]:
        """The workers that have exited since the last call, with their exit codes."""
        done = {i: p for i, p in self._procs.items() if p.exitcode is not None}
        for index, proc in done.items():
            proc.join()
            del self._procs[index]
        return {index: proc.exitcode for index, proc in done.items()}

    def error(self) -> str | None:
        """A user's mistake a worker reported (one line), if any."""
        return None if self._errors.empty() else str(self._errors.get())

    def reap(self, study: optuna.Study, storage: BaseStorage) -> list[FrozenTrial]:
        """Retry the RUNNING trials whose worker process on this machine has died."""
        return reap_dead_workers(study, storage)

    def drop_spare(self) -> None:
        """No more trials to start: a worker not yet placed would find none. Local workers
        are placed as soon as they are started, and the fork server outlives them anyway."""

    def signal(self, signum: int) -> None:
        for proc in self._procs.values():
            if proc.exitcode is None and proc.pid is not None:
                os.kill(proc.pid, signum)

    def wait(self, seconds: float) -> None:
        """Wait (signals keep arriving meanwhile) until the stopping workers have exited."""
        end = time.time() + seconds
        while time.time() < end and any(p.exitcode is None for p in self._procs.values()):
            time.sleep(0.1)

    def idle(self, seconds: float) -> None:
        """Wait `seconds`, or less when a worker exits meanwhile: the supervisor sees a
        finished study, or a worker to replace, at once rather than at its next poll."""
        sentinels = [p.sentinel for p in self._procs.values()]
        if sentinels:
            multiprocessing.connection.wait(sentinels, seconds)
        else:
            time.sleep(seconds)

    def kill(self) -> None:
        """End every worker still alive: SIGTERM first, then SIGKILL for those that stay."""
        self.signal(signal.SIGTERM)
        self.wait(TERM_WAIT_SECONDS)
        for proc in self._procs.values():
            if proc.exitcode is None:
                proc.kill()
            proc.join()
