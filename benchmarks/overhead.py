"""Per-trial overhead: the time a trial spends outside `model.fit`, as a share of the trial.

automl runs K fixed configurations (queued in its study, so it trains exactly them) for E
epochs each, with MLflow tracking on, no pruning, one worker. A bare Keras loop in this process
fits the same models on the same data: its `model.fit` seconds are the work; everything else
automl spends per trial (sampling, building, compiling, logging, storage, cleanup, the gaps
between trials) is overhead. Then py-spy shows where a second, identical automl run spends it.

    python -m benchmarks.overhead                 # 12 trials of 5 epochs, profile included
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks import workload
from benchmarks.automl_cli import AutomlRun, end_time, enqueue, gaps, run_automl, start_time
from benchmarks.machine import describe


def automl_run(
    configs: list[dict[str, Any]], epochs: int, folder: Path, profiled: bool
) -> tuple[AutomlRun, Any]:
    spec = workload.study_file("overhead", 0, epochs=epochs, trials=len(configs), pruner="none")
    enqueue(spec, folder, configs)
    if profiled:
        from benchmarks.profiler import profile_automl

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


def bare_loops(configs: list[dict[str, Any]], epochs: int) -> dict[bool, dict[str, float]]:
    """The same models fitted by hand in this process, as automl fits them (its tf.data
    pipelines, its fused Adam update: True) and as a script does (the arrays, Keras's Adam:
    False), interleaved so that a change in the machine's load hits both:
    fit seconds and whole-loop seconds per model."""
    from automl.train.objective import trial_seed

    data = workload.load(0)
    fits: dict[bool, list[float]] = {True: [], False: []}
    totals: dict[bool, list[float]] = {True: [], False: []}
    for number, config in enumerate(configs):
        hp = workload.hyperparameters(config)
        for as_automl in (number % 2 == 0, number % 2 == 1):
            t0 = time.perf_counter()
            fitted = workload.fit(hp, data, epochs, trial_seed(0, number), as_automl=as_automl)
            totals[as_automl].append(time.perf_counter() - t0)
            fits[as_automl].append(fitted.fit_seconds)
    return {
        p: {"fit_s": statistics.mean(fits[p]), "per_model_s": statistics.mean(totals[p])}
        for p in (True, False)
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0, help="draws the configurations")
    parser.add_argument("--no-profile", action="store_true")
    args = parser.parse_args(argv)
    print(describe(), "\n")
    configs = workload.random_configs(args.trials, args.seed)
    with tempfile.TemporaryDirectory(prefix="bench-overhead-") as tmp:
        timing = trial_timing(automl_run(configs, args.epochs, Path(tmp) / "timed", False)[0])
        profile = None
        if not args.no_profile:
            profile = automl_run(configs, args.epochs, Path(tmp) / "profiled", True)[1]
    loops = bare_loops(configs, args.epochs)
    bare, arrays = loops[True], loops[False]
    overhead = timing["period_s"] - bare["fit_s"]
    print(f"{args.trials} trials of {args.epochs} epochs, one worker, MLflow tracking on\n")
    print("| measure | seconds |")
    print("| --- | --- |")
    rows = [
        ("automl: whole command", timing["command_s"]),
        ("automl: start until the first trial starts", timing["before_first_trial_s"]),
        ("automl: after the last trial ends, until exit", timing["after_last_trial_s"]),
        ("automl: per trial (first start to last end / trials)", timing["period_s"]),
        ("automl: per trial, inside the trial (start to end)", timing["in_trial_s"]),
        ("automl: per trial, inside model.fit (its `fit_seconds`)", timing["fit_s"]),
        ("automl: gap between trials of one worker", timing["gap_s"]),
        (
            f"automl: gap where a fresh worker took over ({timing['restarts']:.0f} times)",
            timing["restart_gap_s"],
        ),
        ("bare loop as automl fits: model.fit per model", bare["fit_s"]),
        ("bare loop as automl fits: whole loop per model", bare["per_model_s"]),
        ("bare loop as a script fits (arrays, Keras's Adam): model.fit per model", arrays["fit_s"]),
        ("bare loop as a script fits: whole loop per model", arrays["per_model_s"]),
    ]
    for name, value in rows:
        print(f"| {name} | {value:.3f} |")
    trial_s = timing["in_trial_s"] + timing["gap_s"]  # a trial and the gap to the next
    steady = trial_s - bare["fit_s"]
    own = trial_s - timing["fit_s"]
    print(
        f"\noverhead per trial, worker restarts included: {overhead:.3f} s = "
        f"{overhead / timing['period_s']:.1%} of a trial; without them (inside the trial and "
        f"the gap to the next): {steady:.3f} s = "
        f"{steady / trial_s:.1%} (goal <= 5%). The bare "
        f"loop's own share outside fit (build, compile, clear_session): "
        f"{1 - bare['fit_s'] / bare['per_model_s']:.1%}"
    )
    print(
        f"\nmeasured inside automl's own trials (same process, same moment, so a change in the "
        f"machine's speed cancels out): outside model.fit {own:.3f} s = "
        f"{own / trial_s:.1%} of a trial and the gap to the next"
    )
    if profile is not None:
        from benchmarks.profiler import table

        print("\nWhere automl's worker spends its time (py-spy, a second identical run):\n")
        print(table(profile, args.trials))


if __name__ == "__main__":
    main()
