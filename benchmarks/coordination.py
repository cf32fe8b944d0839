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
import multiprocessing
import os
import time
import traceback
import uuid
import warnings
from typing import Any

import optuna
from optuna.storages import RDBStorage

from automl.keys import WORKER_ATTR
from automl.run.recovery import this_worker
from automl.run.storage import StudyLock, open_storage
from automl.run.study import work_left
from benchmarks.harness import records
from tests.postgres import server_url

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


QUESTION = (
    "How many trials a second do 8 to 64 light workers get through automl's study lock, ask and "
    "tell on one PostgreSQL study?"
)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=QUESTION)
    parser.add_argument(
        "--storage",
        default=os.environ.get("AUTOML_TEST_POSTGRES_URL"),
        help="a PostgreSQL URL (default: $AUTOML_TEST_POSTGRES_URL, else a throwaway server "
        "started from the machine's PostgreSQL binaries)",
    )
    parser.add_argument("--workers", type=int, nargs="+", default=[8, 16, 32, 64])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--epochs", type=int, default=8)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    url = args.storage or server_url()
    if not url or not url.startswith("postgresql"):
        parser.error("--storage postgresql://... is needed (no PostgreSQL binaries here)")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    levels = [one_level(url, workers, args.seconds, args.epochs) for workers in args.workers]
    with records.teed() as shown:
        report(levels, args.seconds, args.epochs)
    records.save("coordination", shown.getvalue(), levels, QUESTION, started, argv)


def report(levels: list[dict[str, Any]], seconds: float, epochs: int) -> None:
    print(
        f"Each level: {seconds:g} s of workers (processes, no TensorFlow, a trivial objective, "
        f"{epochs} reports a trial) on a fresh PostgreSQL study on this machine.\n"
    )
    print(
        "| workers | trials | trials/s | lock wait p50 / p99 (s) | count p50 / p99 (ms) "
        "| ask p50 / p99 (ms) | suggest p50 / p99 (ms) | errors |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for v in levels:
        lock, count, ask, suggest = (v[f"{k}_ms"] for k in ("lock", "count", "ask", "suggest"))
        print(
            f"| {v['workers']} | {v['trials']} | {v['trials_per_s']:.1f} "
            f"| {lock['p50'] / 1000:.2f} / {lock['p99'] / 1000:.2f} "
            f"| {count['p50']:.0f} / {count['p99']:.0f} | {ask['p50']:.0f} / {ask['p99']:.0f} "
            f"| {suggest['p50']:.0f} / {suggest['p99']:.0f} | {v['errors']} |"
        )


if __name__ == "__main__":
    main()
