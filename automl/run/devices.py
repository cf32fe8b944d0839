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

import os
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from automl.errors import AutomlError

if TYPE_CHECKING:
    pass


def gpu_for(index: int, gpus: Sequence[str]) -> str | None:
    """Worker `index`'s GPU: round robin over the GPUs; None (leave CUDA alone) without any."""
    return gpus[index % len(gpus)] if gpus else None


def gpu_environment(gpu: str | None) -> dict[str, str]:
    """The environment a worker on `gpu` needs: only that GPU, and memory grown on demand
    (TensorFlow would otherwise take all of it at the first model)."""
    if gpu is None:
        return {}
    return {"CUDA_VISIBLE_DEVICES": gpu, "TF_FORCE_GPU_ALLOW_GROWTH": "true"}


def detect_gpus() -> list[str]:
    """GPU ids visible to this machine, without importing TensorFlow."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [g.strip() for g in visible.split(",") if g.strip() and g.strip() != "-1"]
    try:
        import subprocess

        out = subprocess.run(
            ["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return gpus_listed(out)


def gpus_listed(nvidia_smi_l: str) -> list[str]:
    """The GPU indices in `nvidia-smi -L` output ("GPU 0: NVIDIA H200 (UUID: GPU-...)");
    the indented MIG lines under a GPU are not GPUs of their own."""
    return re.findall(r"^GPU (\d+):", nvidia_smi_l, flags=re.MULTILINE)


def check_gpus(asked: Sequence[str], visible: Sequence[str]) -> None:
    """--gpus names GPUs of this machine: CUDA would hide a wrong index and train on the CPU.
    (UUIDs, MIG instances' included, are passed on as they are.)"""
    missing = [g for g in asked if g.isdigit() and visible and g not in visible]
    if missing:
        raise AutomlError(
            f"--gpus: no GPU {', '.join(missing)} on this machine (its GPUs: {', '.join(visible)})"
        )


def threads_per_worker(workers: int) -> int:
    """Each worker's share of the cores this process may use, so K workers don't oversubscribe."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, (cores or 1) // workers)
