"""Parallel speedup: trials per hour with 1, 2 and 4 local workers (`automl run --workers K`).

Every run trains the same queued configurations (drawn from the shared space, no pruning), so
the work is identical and only the number of workers changes. Trials per hour are counted three
ways: over the whole command (start-up and shutdown included, what a user waits for); over the
trials themselves (first trial start to last trial end); and while all K workers are busy, the
steady rate of a long study. With 16 trials, the end of a run where one worker trains its last
trial while the others have none left is a sixth of the span for two workers; a long study has
no such end in proportion. That window runs from the last worker's first trial start to the
first worker's last trial end; a trial cut by it counts by the share of it inside, and each
trial weighs its size (its seconds in the first worker count's run of the round, over their
mean), so that a window which happens to leave out the largest models does not look faster.

The same trials' seconds vary from run to run on a shared 2-core machine (inside `model.fit`:
the machine, not automl), so `--repeats N` (default 3) runs the worker counts N times in turn,
and each ratio is taken within a round; the table gives median [min–max] over the rounds.

    python -m benchmarks.parallel                  # 16 trials of 4 epochs, 1 2 4 workers
    python -m benchmarks.parallel --workers 1 2 --repeats 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks.harness import records, workload
from benchmarks.harness.automl_cli import AutomlRun, end_time, enqueue, run_automl, start_time
from benchmarks.harness.stats import spread

Span = tuple[int, int, float, float]  # (worker pid, trial number, start, end), seconds


def spans(run: AutomlRun) -> list[Span]:
    return [
        (t.user_attrs["worker"]["pid"], t.number, start_time(t), end_time(t)) for t in run.trials
    ]


def sizes(reference: list[Span]) -> dict[int, float]:
    """Each trial's seconds in a reference run over their mean: 1 for a trial of average size."""
    seconds = {number: end - start for _, number, start, end in reference}
    mean = statistics.mean(seconds.values())
    return {number: s / mean for number, s in seconds.items()}


def all_busy_rate(trials: list[Span], size: dict[int, float]) -> float:
    """Trials of average size per hour while every worker is busy: each trial counted by its
    size and its share inside the window from the last worker's first start to the first
    worker's last end."""
    workers = {pid for pid, *_ in trials}
    low = max(min(s for p, _, s, _ in trials if p == pid) for pid in workers)
    high = min(max(e for p, _, _, e in trials if p == pid) for pid in workers)
    inside = sum(
        size[n] * max(0.0, min(e, high) - max(s, low)) / (e - s) for _, n, s, e in trials if e > s
    )
    return inside / (high - low) * 3600


QUESTION = "How many more trials an hour do 2 and 4 local workers train than one, on 2 cores?"
Run = tuple[float, float, float, float, int]  # seconds; trials/h command, trials, busy; complete


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=QUESTION)
    parser.add_argument("--workers", nargs="+", type=int, default=[1, 2, 4])
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0, help="draws the configurations")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each worker count")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    runs = measure(args)
    with records.teed() as shown:
        report(args, runs)
    records.save(
        "parallel", shown.getvalue(), {str(k): v for k, v in runs.items()}, QUESTION, started, argv
    )


def measure(args: argparse.Namespace) -> dict[int, list[Run]]:
    """Each worker count once a round, `repeats` rounds, on the same queued configurations."""
    configs = workload.random_configs(args.trials, args.seed)
    runs: dict[int, list[Run]] = {k: [] for k in args.workers}
    with tempfile.TemporaryDirectory(prefix="bench-parallel-") as tmp:
        for repeat in range(args.repeats):
            size: dict[int, float] = {}
            for k in args.workers:
                spec = workload.study_file(
                    f"parallel-{k}", 0, epochs=args.epochs, trials=args.trials, pruner="none"
                )
                folder = Path(tmp) / f"workers-{k}-{repeat}"
                enqueue(spec, folder, configs)
                run = run_automl(spec, folder, workers=k)
                trials = spans(run)
                span = max(e for *_, e in trials) - min(s for _, _, s, _ in trials)
                size = size or sizes(trials)  # the round's first run sizes the trials
                runs[k].append(
                    (
                        run.seconds,
                        len(trials) / run.seconds * 3600,
                        len(trials) / span * 3600,
                        all_busy_rate(trials, size),
                        len(run.complete()),
                    )
                )
    return runs


def report(args: argparse.Namespace, runs: dict[int, list[Run]]) -> None:
    print(
        f"{args.trials} queued trials of {args.epochs} epochs, MLflow on, {os.cpu_count()} cores, "
        f"{args.repeats} round(s); each cell: median [min–max] over the rounds\n"
    )
    print(
        "| workers | command s | trials/h (command) | trials/h (trials) | trials/h (all busy) "
        "| × 1 worker (trials) | × 1 worker (all busy) | complete |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    first = runs[args.workers[0]]
    for k in args.workers:
        rs = runs[k]
        # Ratios within a round: the same machine at the same moment.
        trials = [b[2] / a[2] for a, b in zip(first, rs, strict=True)]
        busy = [b[3] / a[3] for a, b in zip(first, rs, strict=True)]
        print(
            f"| {k} | {spread([r[0] for r in rs], '.1f')} | {spread([r[1] for r in rs], '.0f')} "
            f"| {spread([r[2] for r in rs], '.0f')} | {spread([r[3] for r in rs], '.0f')} "
            f"| {spread(trials)} | {spread(busy)} | {min(r[4] for r in rs)} |"
        )


if __name__ == "__main__":
    main()
