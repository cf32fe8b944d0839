"""Worker processes and the supervisor that runs a study to its budget.

`automl run` is a supervisor: it opens the study, starts K worker processes (TensorFlow does
not share a process well), shows progress from the storage, retries the trials of workers
that died, and replaces workers that retire. A worker loads the data once, runs trials until
the budget is met, and retires early when its memory has grown past a limit: TensorFlow keeps
a few MB per model it ever built, so a fresh process is how memory stays flat. Workers are
forked from a server that has imported TensorFlow once (`automl.backend.worker_context`), so a
fresh worker costs a fork, not a 6 s import.

Stopping (Ctrl-C, SIGTERM from `docker stop`, the terminal closing) is cooperative: the
supervisor passes the signal on, each worker fails its running trial with the reason and
queues it again, and the next `automl run` picks it up. A second Ctrl-C kills the workers;
their trials are then retried as those of dead workers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from automl.spec.schema import StudySpec

if TYPE_CHECKING:
    pass

# Exit codes of a worker process.
DONE = 0
RETIRED = 3  # memory grew past the limit: start a fresh worker in its place
INTERRUPTED = 130
# A worker retires once its RSS has grown this much since its first trial ended.
RSS_GROWTH_LIMIT_MB = 120.0


@dataclass(frozen=True)
class WorkerArgs:
    spec: StudySpec
    storage: str
    tracking_uri: str | None  # None: no MLflow
    budget: int
    deadline: float | None
    index: int
    threads: int
    supervisor: int  # the supervisor's pid: a worker stops when it is gone
    gpu: str | None = None
    rss_growth_limit_mb: float = RSS_GROWTH_LIMIT_MB
