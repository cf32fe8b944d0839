"""Stop signals: what stops a run, how a worker turns one into the end of its trial, how the
supervisor passes them on, and how a worker notices that its supervisor is gone.

Stopping (Ctrl-C, SIGTERM from `docker stop`, the terminal closing) is cooperative: the
supervisor passes the signal on, each worker fails its running trial with the reason and
queues it again, and the next `automl run` picks it up. A second Ctrl-C kills the workers;
their trials are then retried as those of dead workers.
"""

from __future__ import annotations

import os
import select
import signal
import threading
from types import FrameType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from automl.run.placement import Placement

# The signals that stop a run, and what a trial they stop says about it. A worker gets
# SIGHUP when its supervisor dies (Linux), as if the terminal had closed.
STOP_REASONS = {
    signal.SIGINT: "interrupted (Ctrl-C)",
    signal.SIGTERM: "stopped by SIGTERM",
    signal.SIGHUP: "stopped: its automl run process ended",
}


class WorkerStop:
    """A worker's stop signals: the first one ends the running trial, or the next one starts."""

    def __init__(self) -> None:
        self.reason: str | None = None
        self.in_trial = False  # raise only inside the objective, never mid-way in Optuna's tell

    def install(self) -> None:
        for sig in STOP_REASONS:
            signal.signal(sig, self._handle)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.reason is not None:
            return  # Ctrl-C reaches workers and supervisor both; one stop is enough
        self.reason = STOP_REASONS[signal.Signals(signum)]
        if self.in_trial:
            raise KeyboardInterrupt(self.reason)


def follow_supervisor(supervisor: int) -> None:
    """Linux: receive SIGHUP when the supervisor dies, even by SIGKILL, instead of running on.

    The worker's parent is the fork server, which outlives the supervisor while any worker
    lives, so the worker watches the supervisor itself (a pidfd: no pid reuse race)."""
    try:
        pidfd = os.pidfd_open(supervisor)
    except ProcessLookupError:
        os.kill(os.getpid(), signal.SIGHUP)  # it died before this worker could watch it
        return
    except (AttributeError, OSError):
        return  # not Linux: only a supervisor that exits normally stops its workers

    def watch() -> None:
        select.select([pidfd], [], [])  # readable once the process has exited
        os.kill(os.getpid(), signal.SIGHUP)

    threading.Thread(target=watch, name="automl-follow-supervisor", daemon=True).start()


class SupervisorStop:
    """The supervisor's stop signals: passed on to the workers; a second one kills them."""

    def __init__(self, workers: Placement) -> None:
        self.workers = workers
        self.signum: int | None = None
        self.count = 0
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> SupervisorStop:
        for sig in STOP_REASONS:
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.count += 1
        self.signum = self.signum or signum
        self.workers.signal(signal.SIGKILL if self.count > 1 else signum)
