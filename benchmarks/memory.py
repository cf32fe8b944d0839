"""Flat memory: the RSS of automl's worker processes over a long single-worker study.

TensorFlow keeps a few MB per model a process ever built, even after `clear_session()`; automl
retires a worker whose RSS grew more than a limit since its first trial and starts a fresh one.
This runs a 60-trial study of small models (1-2 blocks of 8-32 filters, 2 epochs, no pruning)
with one worker and MLflow tracking on, samples every worker process's RSS (psutil, 5 per
second), and compares the peak RSS up to the end of the 10th trial with the peak up to the end
of the 60th (goal: within 150 MB). For contrast, a bare loop in one process fits the same 60
models without recycling and reports how its RSS grows.

    python -m benchmarks.memory
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.harness import records, workload
from benchmarks.harness.automl_cli import AutomlRun, end_time, gaps, run_automl

SMALL = tuple(
    dataclasses.replace(d, high=32)
    if d.name == "width"
    else dataclasses.replace(d, high=2)
    if d.name == "depth"
    else d
    for d in workload.SPACE
)


def peak_until(run: AutomlRun, moment: float) -> float:
    return max((mb for series in run.rss.values() for t, mb in series if t <= moment), default=0.0)


def workers(run: AutomlRun) -> list[dict[str, Any]]:
    """Each worker process: its trials, RSS after its first trial, its peak and last RSS."""
    out = []
    for pid, series in sorted(run.rss.items(), key=lambda kv: kv[1][0][0]):
        mine = sorted(
            (t for t in run.trials if t.user_attrs.get("worker", {}).get("pid") == pid),
            key=lambda t: t.number,
        )
        first_end = end_time(mine[0]) if mine else series[0][0]
        after_first = next((mb for t, mb in series if t >= first_end), series[-1][1])
        out.append(
            {
                "pid": pid,
                "trials": len(mine),
                "after_first_trial_mb": after_first,
                "peak_mb": max(mb for _, mb in series),
                "last_mb": series[-1][1],
            }
        )
    return out


def bare_growth(run: AutomlRun, epochs: int) -> list[float]:
    """RSS of this process after each of the same models, fitted in one process (MB)."""
    import psutil

    from automl.search.space import Hyperparameters

    data = workload.load(0)
    process = psutil.Process()
    rss = []
    for t in sorted(run.trials, key=lambda t: t.number):
        hp = Hyperparameters.from_dict(t.user_attrs["hyperparameters"])
        workload.fit(hp, data, epochs, t.user_attrs["seed"], as_automl=True)
        rss.append(process.memory_info().rss / 2**20)
    return rss


QUESTION = "Does a worker's memory stay flat over a long study?"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=QUESTION)
    parser.add_argument("--trials", type=int, default=60)
    parser.add_argument("--early", type=int, default=10, help="the early point to compare with")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--no-bare", action="store_true", help="skip the one-process contrast")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    spec = workload.study_file(
        "memory",
        0,
        epochs=args.epochs,
        trials=args.trials,
        pruner="none",
        params=workload.study_params(SMALL),
    )
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp:
        run = run_automl(spec, Path(tmp), sample_rss=True)
    ends = sorted(end_time(t) for t in run.trials)
    early = peak_until(run, ends[min(args.early, len(ends)) - 1])
    late = peak_until(run, ends[-1])
    with records.teed() as shown:
        print(
            f"{len(run.trials)} trials of {args.epochs} epochs, small models, one worker, "
            f"MLflow on: {run.seconds:.0f} s, {len(run.rss)} worker processes\n"
        )
        print("| worker pid | trials | RSS after its first trial MB | peak MB | last MB |")
        print("| --- | --- | --- | --- | --- |")
        for w in workers(run):
            print(
                f"| {w['pid']} | {w['trials']} | {w['after_first_trial_mb']:.0f} "
                f"| {w['peak_mb']:.0f} | {w['last_mb']:.0f} |"
            )
        print(
            f"\npeak worker RSS up to trial {args.early}: {early:.0f} MB; up to trial "
            f"{len(ends)}: {late:.0f} MB; difference {late - early:+.0f} MB (goal <= 150 MB)"
        )
        same, new = gaps(run)
        if same and new:
            print(
                f"between trials of one worker: {sum(same) / len(same):.2f} s on average; "
                f"where a fresh worker took over: {sum(new) / len(new):.2f} s on average "
                f"({len(new)} times, {sum(new):.0f} s in all, {sum(new) / run.seconds:.0%} "
                "of the command)"
            )
        if not args.no_bare:
            rss = bare_growth(run, args.epochs)
            k = min(args.early, len(rss)) - 1
            print(
                f"\nbare loop, one process, no recycling: RSS after model 1 {rss[0]:.0f} MB, "
                f"after model {k + 1} {rss[k]:.0f} MB, after model {len(rss)} {rss[-1]:.0f} MB "
                f"({(rss[-1] - rss[k]) / max(1, len(rss) - 1 - k):.1f} MB per model after "
                f"model {k + 1})"
            )
    records.save(
        "memory",
        shown.getvalue(),
        {"workers": workers(run), "early_peak_mb": early, "late_peak_mb": late},
        QUESTION,
        started,
        argv,
    )


if __name__ == "__main__":
    main()
