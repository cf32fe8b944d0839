"""Fixed costs: what a fresh one-trial, one-epoch study costs beyond importing TensorFlow and
training its trial, and what rerunning the finished study costs.

Each round, back to back: a fresh interpreter importing TensorFlow and Keras (the floor every
Keras user pays); `automl run` of a one-trial, one-epoch digits study in an empty folder with
the embedded defaults (a journal storage and an MLflow SQLite store there, tracking, the top-K
model, test scoring and the registry on, as a newcomer gets them); the same command again on
the finished study. Every command is timed from outside, interpreter start to exit; the trial's
own seconds come from its storage (Optuna's start and completion times). The rerun is made once
more under `python -X importtime` to see whether it imported TensorFlow.

    python -m benchmarks.fixed_cost [--rounds 3]

Fixed cost = command - TensorFlow's import - the trial (start to completion). The first epoch
starts at the latest when the trial's work outside `model.fit` is done: its start plus its
seconds outside `fit_seconds` (an upper bound: part of those seconds come after the fit).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from benchmarks.harness import records, stats
from benchmarks.harness.automl_cli import env_with_repo, load_trials, start_time

QUESTION = (
    "What does a fresh study cost beyond importing TensorFlow and training its trial, and a "
    "rerun of a finished one?"
)
STUDY = {
    "name": "fixed-cost",
    "dataset": "digits",
    "epochs": 1,
    "trials": 1,
    "sampler": {"name": "tpe", "seed": 0},
    "pruner": "none",
}
# What the fork server imports before the first worker can start (`automl.run.preload`), step
# by step in a fresh interpreter: the part of the fixed cost that lies before the first trial.
PRELOAD_STEPS = """
import json, sys, time
steps = {}
t = time.perf_counter()
from automl.backend import load_keras
load_keras()
steps["TensorFlow and Keras (load_keras)"] = time.perf_counter() - t
t = time.perf_counter()
import mlflow.entities, mlflow.keras, mlflow.store.tracking.sqlalchemy_store
steps["MLflow: entities, keras flavour, SQL store"] = time.perf_counter() - t
t = time.perf_counter()
import automl.run.preload
steps["the rest of the preload (Optuna, automl's worker)"] = time.perf_counter() - t
print(json.dumps(steps))
"""
# The goals each measure is held to (seconds).
GOALS = {"fixed_s": 1.0, "first_epoch_after_import_s": 1.0, "rerun_s": 1.0}


def _env() -> dict[str, str]:
    """The benchmark's environment without the variables that would point automl elsewhere."""
    env = env_with_repo()
    for name in ("AUTOML_STORAGE", "MLFLOW_TRACKING_URI"):
        env.pop(name, None)
    return env


def timed(command: list[str], folder: Path) -> tuple[float, float, str]:
    """(time.time() at the start, seconds, stderr) of a command that must succeed."""
    started = time.time()
    t0 = time.perf_counter()
    done = subprocess.run(command, cwd=folder, env=_env(), capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited {done.returncode}:\n{done.stderr[-2000:]}")
    return started, seconds, done.stderr


def one_round(folder: Path) -> dict[str, Any]:
    """TensorFlow's import, a fresh study and its rerun, in `folder`."""
    folder.mkdir(parents=True)
    study = folder / "study.yaml"
    study.write_text(yaml.safe_dump(STUDY, sort_keys=False), encoding="utf-8")
    _, import_s, _ = timed([sys.executable, "-c", "import tensorflow, keras"], folder)
    automl = [sys.executable, "-m", "automl", "run", str(study)]
    started, command_s, _ = timed(automl, folder)
    (trial,) = load_trials(STUDY["name"], folder)
    assert trial.datetime_complete is not None, "the trial did not finish"
    trial_s = trial.datetime_complete.timestamp() - start_time(trial)
    outside_fit = trial_s - trial.user_attrs["fit_seconds"]
    _, rerun_s, _ = timed(automl, folder)
    _, _, imports = timed(
        [sys.executable, "-X", "importtime", "-m", "automl", "run", str(study)], folder
    )
    to_trial = start_time(trial) - started
    preload = subprocess.run(
        [sys.executable, "-c", PRELOAD_STEPS],
        cwd=folder,
        env=_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    return {
        "preload": json.loads(preload.stdout),
        "import_s": import_s,
        "command_s": command_s,
        "trial_s": trial_s,
        "fixed_s": command_s - import_s - trial_s,
        "to_trial_s": to_trial,
        "after_trial_s": started + command_s - trial.datetime_complete.timestamp(),
        "first_epoch_after_import_s": to_trial + outside_fit - import_s,
        "rerun_s": rerun_s,
        "rerun_imports_tensorflow": "| tensorflow" in imports,
        "value": trial.value,
    }


ROWS = (
    ("import tensorflow, keras (a fresh interpreter)", "import_s"),
    ("fresh study: the whole command", "command_s"),
    ("its trial, start to completion", "trial_s"),
    ("start until the trial starts", "to_trial_s"),
    ("after the trial, until exit (scoring, registry, exit)", "after_trial_s"),
    ("fixed cost: command - import - trial", "fixed_s"),
    ("first epoch's start after the import (at the latest)", "first_epoch_after_import_s"),
    ("rerun of the finished study: the whole command", "rerun_s"),
)


def report(rounds: list[dict[str, Any]]) -> None:
    print(f"{len(rounds)} rounds; each cell: median [min–max] over the rounds\n")
    print("| measure | seconds | goal |")
    print("| --- | --- | --- |")
    for name, key in ROWS:
        goal = f"≤ {GOALS[key]:.1f}" if key in GOALS else ""
        print(f"| {name} | {stats.spread((r[key] for r in rounds), '.2f')} | {goal} |")
    print(
        "\nWhat the fork server imports before the first worker starts, in a fresh interpreter:\n"
    )
    print("| step | seconds |")
    print("| --- | --- |")
    for step in rounds[0]["preload"]:
        print(f"| {step} | {stats.spread((r['preload'][step] for r in rounds), '.2f')} |")
    imported = sum(bool(r["rerun_imports_tensorflow"]) for r in rounds)
    print(f"\nThe rerun imported TensorFlow in {imported} of {len(rounds)} rounds.")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.fixed_cost", description=QUESTION)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    rounds = []
    with tempfile.TemporaryDirectory(prefix="bench-fixed-") as tmp:
        for n in range(args.rounds):
            rounds.append(one_round(Path(tmp) / str(n)))
            print(
                f"round {n}: "
                + ", ".join(f"{k} {v:.2f}" for k, v in rounds[-1].items() if isinstance(v, float)),
                file=sys.stderr,
            )
    with records.teed() as shown:
        report(rounds)
    records.save("fixed_cost", shown.getvalue(), rounds, QUESTION, started, argv)


if __name__ == "__main__":
    main()
