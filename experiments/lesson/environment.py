"""What a run of the experiment records about where it ran: the code's commit, the machine,
the CPU time its `automl run`s took, which data sets are present, and how long claim 2's
trials train."""

from __future__ import annotations

import math
import os
import platform
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from benchmarks.harness.records import checked_out
from experiments.lesson.arms import ARMS, ROOT, STUDIES

# Where Keras keeps the lesson's other data sets (any one of these paths means present).
OTHER_DATASETS = {
    "fashion_mnist": ("fashion-mnist/train-images-idx3-ubyte.gz",),
    "cifar100": (
        "cifar-100-python/train",
        "cifar-100-python.tar.gz",
        "cifar-100-python-target/cifar-100-python/train",
    ),
}


def code_commit(root: Path = ROOT) -> str | None:
    """The commit checked out at `root` (7 digits), with "+changes" when automl/ differs from
    it; None outside a git checkout."""
    return checked_out(root, ("automl",))


def machine() -> str:
    """The machine in words, with the load other jobs put on it."""
    load = os.getloadavg()[1]  # the last 5 minutes: other jobs on the machine slow every run
    return (
        f"{os.cpu_count()} CPU cores ({platform.machine()}), Python "
        f"{platform.python_version()}, {platform.system()}, 5-minute load average {load:.1f} "
        "at the end (this run included)"
    )


def cached_keras_sets() -> dict[str, bool]:
    """Which of the lesson's other data sets lie in the Keras cache of this machine."""
    base = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "datasets"
    return {
        name: any((base / path).is_file() for path in paths)
        for name, paths in OTHER_DATASETS.items()
    }


def dataset_problem(name: str, sets: Sequence[str], folder: Path) -> str | None:
    """Why automl cannot load a data set here (None when it can), asked of automl itself."""
    if name == "digits":
        return None
    probe = (
        "from automl.data.dataset import load_dataset\n"
        "from automl.spec.overrides import parse_sets\n"
        "from automl.spec.reading import load_spec\n"
        f"spec = load_spec({str(STUDIES / ARMS[0].file)!r}, parse_sets({list(sets)!r}))\n"
        "load_dataset(spec.dataset, 0)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"}
    try:
        proc = subprocess.run(
            [sys.executable, "-c", probe],
            capture_output=True,
            text=True,
            env=env,
            cwd=folder,
            timeout=300,
        )
    except subprocess.TimeoutExpired:
        return "loading it took more than 5 minutes (a download that cannot reach the internet?)"
    if proc.returncode == 0:
        return None
    return (proc.stderr.strip().splitlines() or ["it does not load"])[-1]


def steps_per_trial(sets: Sequence[str]) -> int:
    """The most optimizer steps one trial of claim 2 takes: epochs × batches per epoch."""
    from automl.data.dataset import load_dataset
    from automl.search.space import Hyperparameters
    from automl.spec.overrides import parse_sets
    from automl.spec.reading import load_spec

    spec = load_spec(STUDIES / "claim2_beta_pairs.yaml", parse_sets(sets))
    data = load_dataset(spec.dataset, spec.seed or 0)
    batch = int(spec.fixed.get("batch_size", Hyperparameters().batch_size))
    return spec.epochs * math.ceil(len(data.y_train) / batch)
