"""`automl run --ray`: its options checked, its stores checked, its placement made.

Ray is an optional extra (`automl[ray]`): it is imported here, and only when `--ray` is given.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING

from automl.errors import AutomlError, MissingExtraError, StorageError
from automl.uris import cluster_store_problem

if TYPE_CHECKING:
    from automl.run.placement import Placement


def check_ray_options(
    address: str | None, cpus: float | None, gpus: float | None, local_gpus: str | None
) -> None:
    """--cpus-per-worker and --gpus-per-worker go with --ray; --gpus (this machine's) without."""
    if address is None and (cpus is not None or gpus is not None):
        raise AutomlError(
            "--cpus-per-worker and --gpus-per-worker size workers on a Ray cluster: "
            "add --ray ADDRESS"
        )
    if address is not None and local_gpus is not None:
        raise AutomlError("--gpus picks GPUs of this machine; with --ray use --gpus-per-worker N")


def ray_placement(
    address: str | None,
    cpus: float | None,
    gpus: float | None,
    local_gpus: str | None,
    storage: str,
    tracking_uri: str,
    workers: int,
) -> Callable[[], Placement] | None:
    """With --ray: the placement on that cluster, once the options agree, the stores are ones
    every node reaches and Ray is installed; None without it. Made, its first `workers` actors
    get ready while the supervisor sets up."""
    check_ray_options(address, cpus, gpus, local_gpus)
    if address is None:
        return None
    problem = cluster_store_problem(storage, tracking_uri)
    if problem is not None:
        raise StorageError(problem)
    try:
        from automl.run.ray_placement import RayActors
    except ImportError as exc:
        if exc.name != "ray":
            raise
        raise MissingExtraError("--ray needs Ray: pip install 'automl[ray]'") from None
    return functools.partial(
        RayActors, address, cpus or 1.0, gpus or 0.0, storage, tracking_uri, workers
    )


def made_now(placement: Callable[[], Placement]) -> Callable[[], Placement]:
    """The placement made at once (a cluster's workers get ready meanwhile), and handed to the
    supervisor when it asks for one."""
    made = placement()
    return lambda: made
