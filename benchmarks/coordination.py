"""The coordination layer at scale: K light workers on one PostgreSQL study, nothing trained.

Each worker is a process running automl's worker loop on a trivial objective: under the study
lock (`automl.run.storage.StudyLock`) it reads the study's trials to count the budget
(`automl.run.study.work_left`) and asks Optuna's TPE sampler for a trial, claims it (the
`worker` user attribute) and lets the lock go; then it reports E epochs and tells the value.
So what is measured is the storage, the lock and the sampler: trials per second over all
workers, p50 and p99 of the lock's wait and of `ask`, and errors, at each K.

    python -m benchmarks.coordination --storage postgresql://USER@127.0.0.1:PORT/DB
    python -m benchmarks.coordination --workers 8 16 32 64 --seconds 20 --epochs 8
"""

from __future__ import annotations

import argparse
import datetime
import json
import multiprocessing
import os
import subprocess
import time
import traceback
import uuid
import warnings
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import RDBStorage

from automl.keys import WORKER_ATTR
from automl.run.recovery import this_worker
from automl.run.storage import StudyLock, open_storage
from automl.run.study import work_left
from benchmarks.machine import describe

RESULT = Path(__file__).resolve().parent / "results" / "coordination.json"
# A budget no run reaches: the count under the lock is done as a real study's is.
BUDGET = 10**9


def objective_params(trial: optuna.Trial) -> float:
    """The digits study's five parameters (as a study file declares them); a cheap value."""
    lr = trial.suggest_float("learning_rate", 1e-4, 1e-1, log=True)
    beta = trial.suggest_float("beta_1", 0.8, 0.95)
    depth = trial.suggest_int("depth", 1, 3)
    width = trial.suggest_int("width", 8, 64, log=True)
    norm = trial.suggest_categorical("batch_norm", [True, False])
    return lr * beta + depth / width + (0.01 if norm else 0.0)


def worker(url: str, name: str, index: int, end: float, epochs: int, out: Any) -> None:
    """One worker's loop until `end`, as `automl.run.worker.Worker.step` runs it; its timings
    and errors go to `out`."""
    warnings.simplefilter("ignore")
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    storage = open_storage(url)
    sampler = optuna.samplers.TPESampler(seed=index, n_startup_trials=5)
    study = optuna.load_study(study_name=name, storage=storage, sampler=sampler)
    lock = StudyLock(url, name)
    identity = this_worker()
    times: dict[str, list[float]] = {"lock": [], "count": [], "ask": [], "suggest": []}
    errors, done = [], 0
    marks: dict[str, float] = {}

    def objective(trial: optuna.Trial) -> float:
        marks["asked"] = time.perf_counter()
        trial.set_user_attr(WORKER_ATTR, identity)
        lock.release()  # the trial holds its slot now, as in automl's worker
        value = objective_params(trial)  # TPE's independent sampling reads the trials here
        marks["suggested"] = time.perf_counter()
        for epoch in range(epochs):
            trial.report(value, epoch)
        return value

    while time.time() < end:
        try:
            started = time.perf_counter()
            with lock:
                marks["locked"] = time.perf_counter()
                work_left(study.get_trials(deepcopy=False), BUDGET)
                marks["counted"] = time.perf_counter()
                study.optimize(objective, n_trials=1, gc_after_trial=False)
        except Exception:  # noqa: BLE001 - counted and shown: errors are a result here
            errors.append(traceback.format_exc().strip().splitlines()[-1])
            continue
        times["lock"].append(marks["locked"] - started)
        times["count"].append(marks["counted"] - marks["locked"])
        times["ask"].append(marks["asked"] - marks["counted"])
        times["suggest"].append(marks["suggested"] - marks["asked"])
        done += 1
    out.put({"trials": done, "times": times, "errors": errors})


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def one_level(url: str, workers: int, seconds: float, epochs: int) -> dict[str, Any]:
    """K workers on a fresh study for `seconds`; their numbers together."""
    name = f"coordination-{workers}-{uuid.uuid4().hex[:6]}"
    optuna.create_study(study_name=name, storage=open_storage(url), direction="maximize")
    ctx = multiprocessing.get_context("fork")  # optuna and SQLAlchemy imported once, here
    out = ctx.Queue()
    start = time.time() + 2.0  # every process forked before the clock starts
    procs = [
        ctx.Process(target=worker, args=(url, name, i, start + seconds, epochs, out))
        for i in range(workers)
    ]
    for proc in procs:
        proc.start()
    parts = [out.get() for _ in procs]
    for proc in procs:
        proc.join()
    trials = sum(p["trials"] for p in parts)
    errors = [e for p in parts for e in p["errors"]]
    stored = len(open_storage(url).get_all_trials(storage_study_id(url, name)))
    level: dict[str, Any] = {
        "workers": workers,
        "seconds": seconds,
        "trials": trials,
        "trials_stored": stored,
        "trials_per_s": round(trials / seconds, 2),
    }
    for step in ("lock", "count", "ask", "suggest"):
        values = [v for p in parts for v in p["times"][step]]
        level[f"{step}_ms"] = {
            "p50": ms(percentile(values, 0.5)),
            "p99": ms(percentile(values, 0.99)),
        }
    level["errors"] = len(errors)
    level["error_kinds"] = sorted(set(errors))[:5]
    return level


def storage_study_id(url: str, name: str) -> int:
    storage = open_storage(url)
    assert isinstance(storage, RDBStorage)
    return storage.get_study_id_from_name(name)


def ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


def commit() -> str:
    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return done.stdout.strip() or "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--storage", default=os.environ.get("AUTOML_TEST_POSTGRES_URL"))
    parser.add_argument("--workers", type=int, nargs="+", default=[8, 16, 32, 64])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--out", type=Path, default=RESULT)
    args = parser.parse_args()
    if not args.storage or not args.storage.startswith("postgresql"):
        parser.error("--storage postgresql://... (or $AUTOML_TEST_POSTGRES_URL) is needed")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    levels = []
    for workers in args.workers:
        level = one_level(args.storage, workers, args.seconds, args.epochs)
        print(json.dumps(level), flush=True)
        levels.append(level)
    record = {
        "benchmark": "coordination",
        "commit": commit(),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": describe(),
        "load_average": os.getloadavg(),
        "command": "python -m benchmarks.coordination "
        f"--workers {' '.join(map(str, args.workers))} --seconds {args.seconds:g} "
        f"--epochs {args.epochs} --storage postgresql://(local throwaway server)",
        "levels": levels,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
