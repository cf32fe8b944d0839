"""What a worker process is started with (`WorkerArgs`) and the exit codes it ends with.

Light on purpose: the supervisor builds these and reads the codes without importing the
worker, which imports TensorFlow.
"""

from __future__ import annotations

from dataclasses import dataclass

from automl.spec.schema import StudySpec

# Exit codes of a worker process (and of the final step's child).
DONE = 0
USER_ERROR = 2  # a user's mistake, reported to the supervisor as one line
RETIRED = 3  # memory grew past the limit: start a fresh worker in its place
INTERRUPTED = 130
# A worker retires once its RSS has grown this much since its first trial ended.
RSS_GROWTH_LIMIT_MB = 120.0


@dataclass(frozen=True)
class WorkerArgs:
    """Everything a worker needs to join the study: pickled to the process that runs it."""

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
    ray_node: str | None = None  # the Ray node's id (hex) where a Ray actor runs the worker
    ray_actor: str | None = None  # that actor's id (hex)
