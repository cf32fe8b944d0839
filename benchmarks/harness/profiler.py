"""Where a worker's time goes: `automl run` under py-spy, its samples sorted into buckets.

py-spy samples every process of the command (`--subprocesses`), idle or not (`--idle`: a
worker waiting on the storage or on a lock is time a trial takes). Only the worker processes'
main threads are counted: that is where trials run. Each sample goes to the bucket of the
deepest frame that names one (a storage write inside the pruning callback counts as
"report + prune", not as "fit").
"""

from __future__ import annotations

import shutil
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.harness.automl_cli import FORKSERVER, AutomlRun, run_automl

# Samples per second. py-spy skips samples when it falls behind on a busy machine, so the
# seconds below are lower bounds; the shares hold.
RATE = 50

# (bucket, function names as py-spy shows them); the deepest matching frame wins.
BUCKETS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("fit", ("TensorFlowTrainer.fit",)),
    ("report + prune (in fit)", ("EpochReporter.on_epoch_end",)),
    ("clear_session (and waiting for a model save)", ("clear_session", "clear_keras_state")),
    ("build + compile", ("build_model", "build_training_state")),
    ("pipelines", ("pipelines",)),
    ("seed", ("set_random_seed",)),
    ("suggest (sampler)", ("suggest",)),
    ("MLflow: trial start", ("TrialTracker.trial_started",)),
    ("MLflow: trial end", ("TrialTracker.__call__",)),
    ("artifacts: top-K decision", ("TrialTracker._enter_top",)),
    ("waiting for the writer thread", ("TrialTracker.flush", "TrialTracker.close")),
    ("finalize: best model scored, logged, registered", ("Worker.finalize",)),
    ("Optuna: ask/tell, storage", ("Study.optimize",)),
    ("work left (get_trials)", ("work_left",)),
    ("RSS check", ("memory_info",)),
    ("startup: threads, GPU (TensorFlow is preloaded)", ("configure_process",)),
    ("startup: MLflow client", ("TrialTracker.__init__",)),
    ("startup: data", ("load_dataset",)),
    ("startup: load study", ("load_study",)),
    ("worker, other", ("worker_main",)),
)


@dataclass
class Profile:
    run: AutomlRun
    seconds: dict[str, float]  # bucket -> seconds of worker main-thread samples
    paths: dict[str, dict[str, float]]  # bucket -> the few frames below its marker -> seconds


# Wrappers that add a frame without telling anything.
WRAPPERS = {"filter_traceback.<locals>.error_handler", "error_handler", "_find_and_load_unlocked"}


def _function(frame: str) -> str:
    return frame.split(" (", 1)[0]


def bucket_of(names: list[str]) -> tuple[str, int]:
    """The sample's bucket and the index of the frame that decided it."""
    for i in range(len(names) - 1, -1, -1):
        for bucket, markers in BUCKETS:
            if names[i] in markers:
                if bucket == "worker, other" and "_find_and_load" in names:
                    return "startup: other imports", names.index("_find_and_load")
                return bucket, i
    if not names:
        return "no Python frame (process start, exit)", 0
    if "_find_and_load" in names:  # unpickling the worker's arguments
        return "startup: other imports", names.index("_find_and_load")
    return "other", 0


def parse(raw: Path) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """Worker main-thread seconds per bucket, and per path below each bucket's marker."""
    seconds: dict[str, float] = defaultdict(float)
    paths: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for line in raw.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        # py-spy names the process tree down to the sampled one, then the thread.
        chain = [f for f in frames if f.startswith("process ")]
        own = chain[-1:]
        if len(chain) < 2 or not all(FORKSERVER in f for f in chain[-2:]):
            continue  # the supervisor, the fork server (a worker is its fork), the helpers
        if len(chain) > 2 and FORKSERVER in chain[-3]:
            continue  # a worker's plotter (a fork of the worker)
        threads = [f for f in frames if f.startswith("thread (")]
        worker_pid = own[0].split(":", 1)[0].removeprefix("process ").strip()
        names = [_function(f) for f in frames[frames.index(threads[0]) + 1 :]] if threads else []
        main = threads and threads[0].startswith(f"thread ({worker_pid})")
        if not main or names[:1] == ["Thread._bootstrap"]:
            continue  # not the main thread (MLflow's telemetry, TF's Python threads)
        n = int(count) / RATE
        bucket, at = bucket_of(names)
        seconds[bucket] += n
        below = [name for name in names[at:] if name not in WRAPPERS][:4]
        paths[bucket][" > ".join(below)] += n
    return dict(seconds), {bucket: dict(p) for bucket, p in paths.items()}


def largest(values: dict[str, float], n: int | None = None) -> list[tuple[str, float]]:
    return sorted(values.items(), key=lambda kv: -kv[1])[:n]


def py_spy() -> str:
    """The py-spy command: on the PATH, else beside this venv's Python."""
    return shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")


def profile_automl(spec: dict[str, Any], folder: Path) -> Profile:
    """Run `automl run` under py-spy (raw samples in folder/py-spy.txt) and sort its time."""
    raw = folder / "py-spy.txt"
    prefix = (
        py_spy(),
        "record",
        "--subprocesses",
        "--idle",
        "--threads",
        "--format",
        "raw",
        "--rate",
        str(RATE),
        "--output",
        str(raw),
        "--",
    )
    run = run_automl(spec, folder, prefix=prefix)
    seconds, paths = parse(raw)
    return Profile(run, seconds, paths)


def table(profile: Profile, trials: int) -> str:
    """Seconds per bucket, in all and per trial, with each bucket's share of the worker."""
    total = sum(profile.seconds.values())
    lines = [
        "| where (worker main thread) | s in all (sampled) | s per trial | share |",
        "| --- | --- | --- | --- |",
    ]
    for bucket, s in largest(profile.seconds):
        lines.append(f"| {bucket} | {s:.2f} | {s / trials:.3f} | {s / total:.1%} |")
    lines.append(f"| total | {total:.2f} | {total / trials:.3f} | 100% |")
    lines += ["", "Where the largest buckets other than fit go (seconds in all):", ""]
    for bucket, _ in largest(profile.seconds, 7):
        if bucket == "fit":
            continue
        for path, s in largest(profile.paths[bucket], 3):
            lines.append(f"- {bucket}: {path}: {s:.2f}")
    return "\n".join(lines)
