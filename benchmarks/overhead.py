"""Per-trial overhead: the time a trial spends outside `model.fit`, as a share of the trial.

automl runs K fixed configurations (queued in its study, so it trains exactly them) for E
epochs each, with MLflow tracking on, no pruning, one worker. Each trial records the seconds it
spent inside `model.fit`; everything else a trial and the gap to the next one cost (sampling,
building, compiling, logging, storage, cleanup) is overhead, measured in the same process at the
same moment, so a change in the machine's speed cancels out. (A bare loop in another process
is not compared: it would differ in its process set-up, not only in automl's work.) Then py-spy
shows where a second, identical automl run spends its time.

    python -m benchmarks.overhead                 # 12 trials of 5 epochs, profile included
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.harness import records, workload
from benchmarks.harness.automl_cli import AutomlRun, end_time, enqueue, gaps, run_automl, start_time


def automl_run(
    configs: list[dict[str, Any]], epochs: int, folder: Path, profiled: bool
) -> tuple[AutomlRun, Any]:
    spec = workload.study_file("overhead", 0, epochs=epochs, trials=len(configs), pruner="none")
    enqueue(spec, folder, configs)
    if profiled:
        from benchmarks.harness.profiler import profile_automl

        profile = profile_automl(spec, folder)
        return profile.run, profile
    return run_automl(spec, folder), None


def trial_timing(run: AutomlRun) -> dict[str, float]:
    """From the storage: the span of all trials, per trial, and the gaps between trials."""
    trials = sorted(run.trials, key=start_time)
    starts = [start_time(t) for t in trials]
    ends = [end_time(t) for t in trials]
    same, new = gaps(run)
    return {
        "command_s": run.seconds,
        "before_first_trial_s": starts[0] - run.started,
        "after_last_trial_s": run.started + run.seconds - ends[-1],
        "period_s": (ends[-1] - starts[0]) / len(trials),
        "in_trial_s": statistics.mean(e - s for s, e in zip(starts, ends, strict=True)),
        "fit_s": statistics.mean(t.user_attrs["fit_seconds"] for t in trials),
        "gap_s": statistics.mean(same) if same else 0.0,
        "restarts": len(new),
        "restart_gap_s": statistics.mean(new) if new else 0.0,
    }


QUESTION = "What does automl spend per trial outside `model.fit`?"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=QUESTION)
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0, help="draws the configurations")
    parser.add_argument("--no-profile", action="store_true")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    configs = workload.random_configs(args.trials, args.seed)
    with tempfile.TemporaryDirectory(prefix="bench-overhead-") as tmp:
        timing = trial_timing(automl_run(configs, args.epochs, Path(tmp) / "timed", False)[0])
        profile = None
        if not args.no_profile:
            profile = automl_run(configs, args.epochs, Path(tmp) / "profiled", True)[1]
    with records.teed() as shown:
        report(timing, args.trials, args.epochs)
        if profile is not None:
            from benchmarks.harness.profiler import table

            print("\nWhere automl's worker spends its time (py-spy, a second identical run):\n")
            print(table(profile, args.trials))
    records.save("overhead", shown.getvalue(), timing, QUESTION, started, argv)


def report(timing: dict[str, float], trials: int, epochs: int) -> None:
    print(f"{trials} trials of {epochs} epochs, one worker, MLflow tracking on\n")
    print("| measure | seconds |")
    print("| --- | --- |")
    rows = [
        ("whole command", timing["command_s"]),
        ("start until the first trial starts", timing["before_first_trial_s"]),
        ("after the last trial ends, until exit", timing["after_last_trial_s"]),
        ("per trial (first start to last end / trials)", timing["period_s"]),
        ("per trial, inside the trial (start to end)", timing["in_trial_s"]),
        ("per trial, inside model.fit (its `fit_seconds`)", timing["fit_s"]),
        ("gap between trials of one worker", timing["gap_s"]),
        (
            f"gap where a fresh worker took over ({timing['restarts']:.0f} times)",
            timing["restart_gap_s"],
        ),
    ]
    for name, value in rows:
        print(f"| {name} | {value:.3f} |")
    trial_s = timing["in_trial_s"] + timing["gap_s"]  # a trial and the gap to the next
    own = trial_s - timing["fit_s"]
    print(
        f"\nOutside model.fit, per trial: {own:.3f} s = {own / trial_s:.1%} of a trial and the "
        "gap to the next (goal <= 5%)."
    )


if __name__ == "__main__":
    main()
