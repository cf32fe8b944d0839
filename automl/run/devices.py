"""GPUs and cores: which GPUs this machine has (without importing TensorFlow), which one
each worker gets, the environment that pins a worker to it, and each worker's share of the
cores.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Sequence

from automl.errors import AutomlError


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


# A GPU's or a MIG instance's UUID as `nvidia-smi -L` prints it (MIG-GPU-.../1/0 on old drivers).
UUID = re.compile(r"(MIG-)?(GPU|MIG)-[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}(/\d+){0,2}", re.I)


def check_gpus(asked: Sequence[str], visible: Sequence[str]) -> None:
    """--gpus names GPUs of this machine, each once: CUDA would hide a wrong index (or any
    index on a machine without GPUs) and train on the CPU. UUIDs, MIG instances' included,
    are passed on as they are."""
    if not asked:
        raise AutomlError("--gpus: no GPU id given; pass indices like 0,1 or GPU UUIDs")
    bad = [g for g in asked if not g.isdigit() and not UUID.fullmatch(g)]
    if bad:
        raise AutomlError(
            f"--gpus: {', '.join(map(repr, bad))} is not a GPU index (0, 1, ...) or a GPU or "
            "MIG UUID (GPU-..., MIG-...)"
        )
    twice = sorted({g for g in asked if asked.count(g) > 1})
    if twice:
        raise AutomlError(f"--gpus: GPU {', '.join(twice)} given more than once")
    missing = [g for g in asked if g.isdigit() and g not in visible]
    if missing:
        its = f"its GPUs: {', '.join(visible)}" if visible else "it has none visible"
        raise AutomlError(f"--gpus: no GPU {', '.join(missing)} on this machine ({its})")


def threads_per_worker(workers: int) -> int:
    """Each worker's share of the cores this process may use, so K workers don't oversubscribe."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, (cores or 1) // workers)
