"""SQLite against Optuna's journal file as the storage of K local workers (K = 4 by default).

Which storage should `automl run` use by default on one machine? Two measurements, each with
fresh storages in a temporary folder:

* `stress`: K processes each run automl's worker loop (under the study lock: count the budget,
  `study.optimize(n_trials=1)`) on an objective that writes what a real trial writes (3
  parameters, 4 user attributes, 10 per-epoch reports) with 5 ms "epochs": the storage is the
  bottleneck, far more than in real use. Storages as automl opens them (`open_storage`: SQLite
  with a 60 s busy timeout and Optuna's heartbeat; the journal file), SQLite as plain Optuna
  opens it (`RDBStorage(url)`: no heartbeat, SQLite's 5 s busy timeout), and PostgreSQL for
  reference when given. Each also without the study lock, to see what the lock is for.
* `automl`: the real `automl run --workers K` on a 16-cell digits grid (1 epoch, 1 hidden
  layer), with MLflow tracking into a SQLite file.

Columns: trials the study holds; unfinished (lost: left RUNNING or WAITING); over budget
(trials beyond the budget); duplicate cells (a grid cell completed twice); errors (tracebacks
in a worker); "database is locked" (in any output); wall seconds. With `--repeat N` each cell
is `median [min–max]` over the repeats.

The journal has no heartbeat, so a trial of a dead worker is found by its process id (the
`worker` user attribute), which works on one machine only: for several machines use
PostgreSQL. The gRPC storage proxy is not measured: it adds a server process to run.

    python -m benchmarks.storage_contention                        # both, K = 4
    python -m benchmarks.storage_contention stress --workers 8 --trials 100
    python -m benchmarks.storage_contention stress --postgres postgresql://...
"""

from __future__ import annotations

import argparse
import dataclasses
import multiprocessing
import os
import re
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from benchmarks.harness import records, stats
from benchmarks.harness.automl_cli import env_with_repo

if TYPE_CHECKING:
    from optuna.storages import BaseStorage

EPOCHS = 10
GRID: dict[str, list[float]] = {"learning_rate": [0.1, 0.03, 0.01, 0.003], "width": [8, 16, 32, 64]}


@dataclass
class Row:
    test: str
    storage: str
    lock: str
    workers: int
    budget: int
    trials: int
    unfinished: int
    over_budget: int
    duplicate_cells: int
    errors: int
    locked: int
    seconds: float


COUNTS = ("budget", "trials", "unfinished", "over_budget", "duplicate_cells", "errors", "locked")


HEADER = (
    "| test | storage | study lock | workers | budget | trials | unfinished | over budget | "
    "duplicate cells | errors | 'database is locked' | seconds |\n"
    "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
)


def _open(storage: str) -> BaseStorage:
    """automl's storage; `plain:` + a URL is Optuna's RDBStorage with its own defaults."""
    import optuna

    from automl.run.storage import open_storage

    if storage.startswith("plain:"):
        return optuna.storages.RDBStorage(storage.removeprefix("plain:"))
    return open_storage(storage)


def _stress_worker(storage: str, name: str, budget: int, use_lock: bool, errors: object) -> None:
    import contextlib

    import optuna

    from automl.run.recovery import this_worker
    from automl.run.storage import StudyLock
    from automl.run.study import work_left

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    try:
        backend = _open(storage)
        study = optuna.load_study(study_name=name, storage=backend)
        lock = StudyLock(storage.removeprefix("plain:"), name)
        me = this_worker()

        def objective(trial: optuna.Trial) -> float:
            trial.set_user_attr("worker", me)
            lock.release()
            for p in GRID:
                trial.suggest_categorical(p, GRID[p])
            trial.suggest_float("l2", 1e-6, 1e-2, log=True)
            for key in ("hyperparameters", "seed", "mlflow_run_id"):
                trial.set_user_attr(key, key)
            for epoch in range(1, EPOCHS + 1):
                time.sleep(0.005)  # a very fast epoch: the storage is what is measured
                trial.report(epoch / EPOCHS, epoch)
            return 1.0

        while True:
            with lock if use_lock else contextlib.nullcontext():
                if work_left(study.get_trials(deepcopy=False), budget) <= 0:
                    return
                study.optimize(objective, n_trials=1)
    except Exception:  # noqa: BLE001 - counted and shown, as a user would see it
        errors.put(traceback.format_exc())  # type: ignore[attr-defined]


def stress(storage: str, label: str, workers: int, budget: int, use_lock: bool) -> Row:
    import optuna

    name = f"stress-{os.getpid()}-{time.monotonic_ns()}"
    optuna.create_study(study_name=name, storage=_open(storage))
    ctx = multiprocessing.get_context("spawn")
    errors = ctx.Queue()
    started = time.perf_counter()
    procs = [
        ctx.Process(target=_stress_worker, args=(storage, name, budget, use_lock, errors))
        for _ in range(workers)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    seconds = time.perf_counter() - started
    messages = []
    while not errors.empty():
        messages.append(errors.get())
    for m in messages[:2]:
        print(m, file=sys.stderr)
    trials = optuna.load_study(study_name=name, storage=_open(storage)).get_trials()
    return Row(
        test="stress",
        storage=label,
        lock="yes" if use_lock else "no",
        workers=workers,
        budget=budget,
        trials=len(trials),
        unfinished=sum(1 for t in trials if not t.state.is_finished()),
        over_budget=max(0, len(trials) - budget),
        duplicate_cells=0,
        errors=len(messages),
        locked=sum("database is locked" in m for m in messages),
        seconds=seconds,
    )


def automl_run(storage: str, label: str, folder: Path, workers: int, name: str) -> Row:
    import optuna

    from automl.run.storage import open_storage

    spec = folder / f"{name}.yaml"
    params = "\n".join(f"  {k}: {v}" for k, v in GRID.items())
    spec.write_text(
        f"name: {name}\ndataset: digits\nepochs: 1\nsampler: grid\npruner: none\nseed: 0\n"
        f"params:\n{params}\n  depth: 1\n"
    )
    env = env_with_repo()
    started = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "automl", "run", str(spec), "--storage", storage,
         "--workers", str(workers), "--tracking-uri", f"sqlite:///{folder / 'mlflow.db'}"],
        cwd=folder, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    seconds = time.perf_counter() - started
    log = out.stdout + out.stderr
    trials = optuna.load_study(study_name=name, storage=open_storage(storage)).get_trials()
    cells = Counter(tuple(sorted(t.params.items())) for t in trials if t.state.name == "COMPLETE")
    if out.returncode != 0:
        print(log[-3000:], file=sys.stderr)
    return Row(
        test="automl run",
        storage=label,
        lock="yes",
        workers=workers,
        budget=16,
        trials=len(trials),
        unfinished=sum(1 for t in trials if not t.state.is_finished()),
        over_budget=max(0, len(trials) - 16),
        duplicate_cells=sum(n - 1 for n in cells.values()),
        errors=len(re.findall(r"Traceback|OperationalError", log)) + (out.returncode != 0),
        locked=log.count("database is locked"),
        seconds=seconds,
    )


def table(rows: list[Row]) -> str:
    """One line per test, storage and lock; a figure over repeats as `median [min–max]`."""
    groups: dict[tuple[str, str, str, int], list[Row]] = {}
    for row in rows:
        groups.setdefault((row.test, row.storage, row.lock, row.workers), []).append(row)
    lines = [HEADER]
    for (test, storage, lock, workers), same in groups.items():
        counts = [stats.spread([getattr(r, c) for r in same], ".0f") for c in COUNTS]
        seconds = stats.spread([r.seconds for r in same], ".1f")
        lines.append(
            f"| {test} | {storage} | {lock} | {workers} | {' | '.join(counts)} | {seconds} |"
        )
    return "\n".join(lines)


QUESTION = (
    "Which local storage holds several workers with no lock error, no lost and no duplicated "
    "trial, and how fast?"
)


def measure(args: argparse.Namespace, folder: Path) -> list[Row]:
    rows = []
    for i in range(args.repeat):
        storages = {
            "sqlite": f"sqlite:///{folder / f's{i}.db'}",
            "journal": str(folder / f"s{i}.journal"),
        }
        if "stress" in args.which:
            stress_storages = {
                **storages,
                "sqlite, Optuna's defaults": f"plain:sqlite:///{folder / f'p{i}.db'}",
            }
            if args.postgres:
                stress_storages["postgresql"] = args.postgres
            for label, storage in stress_storages.items():
                for use_lock in (True, False):
                    rows.append(stress(storage, label, args.workers, args.trials, use_lock))
                    print(f"{label}, lock {rows[-1].lock}: done", file=sys.stderr, flush=True)
        if "automl" in args.which:
            for label, storage in storages.items():
                rows.append(automl_run(storage, label, folder, args.workers, f"grid-{label}-{i}"))
                print(f"automl run, {label}: done", file=sys.stderr, flush=True)
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=QUESTION)
    parser.add_argument("which", nargs="*", default=["stress", "automl"])
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--trials", type=int, default=200, help="the stress test's budget")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--postgres", help="also a PostgreSQL URL (stress test only)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-storage-") as tmp:
        rows = measure(args, Path(tmp))
    with records.teed() as shown:
        budget = (
            f"; `stress` with a budget of {args.trials} trials" if "stress" in args.which else ""
        )
        print(f"{args.workers} workers{budget}\n")
        print(table(rows))
    records.save(
        "storage_contention",
        shown.getvalue(),
        [dataclasses.asdict(r) for r in rows],
        QUESTION,
        started,
        argv,
    )


if __name__ == "__main__":
    main()
