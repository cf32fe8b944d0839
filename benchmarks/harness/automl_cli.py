"""automl as a user runs it: `automl run` on a study file in a fresh folder, read back after.

The command runs in its own process with the default journal storage and an MLflow SQLite
store in that folder (tracking on, as a user gets it). Its worker processes' memory can be
sampled while it runs.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from optuna.trial import FrozenTrial


@dataclass
class AutomlRun:
    seconds: float  # wall-clock of the whole command, interpreter start to exit
    started: float  # time.time() when the command started
    trials: list[FrozenTrial]
    folder: Path
    # Worker processes seen: pid -> [(time.time(), RSS in MB)], when sampled.
    rss: dict[int, list[tuple[float, float]]] = field(default_factory=dict)

    def epochs(self) -> int:
        """Epochs trained: every trial reports once per epoch it trained."""
        return sum(len(t.intermediate_values) for t in self.trials)

    def complete(self) -> list[FrozenTrial]:
        return [t for t in self.trials if t.state.name == "COMPLETE"]


def start_time(trial: FrozenTrial) -> float:
    assert trial.datetime_start is not None, f"trial {trial.number} never started"
    return trial.datetime_start.timestamp()


def end_time(trial: FrozenTrial) -> float:
    """When the trial finished (a trial still running counts as finishing now)."""
    return trial.datetime_complete.timestamp() if trial.datetime_complete else time.time()


def gaps(run: AutomlRun) -> tuple[list[float], list[float]]:
    """Seconds between one trial's end and the next one's start: same worker, new worker."""
    trials = sorted(run.trials, key=start_time)
    same: list[float] = []
    new: list[float] = []
    for a, b in zip(trials, trials[1:], strict=False):
        gap = start_time(b) - end_time(a)
        pid = a.user_attrs.get("worker", {}).get("pid")
        (same if pid == b.user_attrs.get("worker", {}).get("pid") else new).append(gap)
    return same, new


def storage_path(folder: Path) -> Path:
    return folder / "automl.journal"


def write_study(spec: dict[str, Any], folder: Path) -> Path:
    path = folder / "study.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return path


def enqueue(spec: dict[str, Any], folder: Path, configs: list[dict[str, Any]]) -> None:
    """Create the study in `folder` with these trials queued, so automl runs exactly them."""
    import optuna

    from automl.run.study import open_study
    from automl.spec.reading import load_spec

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    folder.mkdir(parents=True, exist_ok=True)
    study = open_study(load_spec(write_study(spec, folder)), str(storage_path(folder)))
    for config in configs:
        study.enqueue_trial(config)


def run_automl(
    spec: dict[str, Any],
    folder: Path,
    workers: int = 1,
    sample_rss: bool = False,
    prefix: tuple[str, ...] = (),
) -> AutomlRun:
    """Run `automl run` on `spec` in `folder` (created study, or one prepared there before).

    `prefix` wraps the command (a profiler such as py-spy).
    """
    folder.mkdir(parents=True, exist_ok=True)
    study_file = write_study(spec, folder)
    command = [
        *prefix,
        sys.executable,
        "-m",
        "automl",
        "run",
        str(study_file),
        "--storage",
        str(storage_path(folder)),
        "--tracking-uri",
        f"sqlite:///{folder / 'mlflow.db'}",
        "--workers",
        str(workers),
    ]
    log = folder / "automl.log"
    rss: dict[int, list[tuple[float, float]]] = {}
    started = time.time()
    t0 = time.perf_counter()
    with log.open("w") as out:
        proc = subprocess.Popen(
            command, cwd=folder, stdout=out, stderr=subprocess.STDOUT, env=env_with_repo()
        )
        sampler = None
        if sample_rss:
            sampler = threading.Thread(target=_sample_workers, args=(proc, rss), daemon=True)
            sampler.start()
        code = proc.wait()
        seconds = time.perf_counter() - t0
        if sampler is not None:
            sampler.join()
    if code != 0:
        tail = log.read_text(encoding="utf-8", errors="replace")[-2000:]
        raise RuntimeError(f"automl run exited {code}:\n{tail}")
    return AutomlRun(seconds, started, load_trials(spec["name"], folder), folder, rss)


def load_trials(study_name: str, folder: Path) -> list[FrozenTrial]:
    import optuna

    from automl.run.storage import open_storage

    study = optuna.load_study(
        study_name=study_name, storage=open_storage(str(storage_path(folder)))
    )
    return study.get_trials(deepcopy=False)


FORKSERVER = "multiprocessing.forkserver"


def _sample_workers(
    proc: subprocess.Popen[bytes], rss: dict[int, list[tuple[float, float]]]
) -> None:
    """Every 0.2 s, the RSS of each worker process: the children of multiprocessing's fork
    server (which shows the server's command line too, as a fork of it), not their plotters
    (forks of a worker)."""
    import psutil

    try:
        root = psutil.Process(proc.pid)
    except psutil.NoSuchProcess:
        return
    while proc.poll() is None:
        try:
            children = root.children(recursive=True)
        except psutil.NoSuchProcess:
            return
        now = time.time()
        servers = {c.pid for c in children if c.ppid() == root.pid}
        for child in children:
            try:
                if child.ppid() not in servers or FORKSERVER not in " ".join(child.cmdline()):
                    continue  # the fork server itself, the resource tracker, a profiler, a plotter
                rss.setdefault(child.pid, []).append((now, child.memory_info().rss / 2**20))
            except psutil.Error:
                continue
        time.sleep(0.2)


def env_with_repo() -> dict[str, str]:
    """The environment for child processes: this checkout first on the path."""
    root = str(Path(__file__).resolve().parent.parent)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    return env
