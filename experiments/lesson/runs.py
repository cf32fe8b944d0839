"""Running the lesson's study files with `automl run`, and reading their trials back.

One `automl run` subprocess per study and seed (`--set name=... --set seed=...`, `--workers 1`),
all into one Optuna journal and MLflow store; the trials are kept as JSON records (the runs of
results.json) and made FrozenTrials again for the analysis.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from experiments.lesson.arms import ARMS, ROOT, STUDIES, Arm

if TYPE_CHECKING:
    from optuna.trial import FrozenTrial


@dataclass
class ArmRun:
    """One `automl run` of one arm with one seed, and the trials it left."""

    claim: int
    arm: str
    seed: int
    study: str
    command: list[str]
    seconds: float
    trials: list[dict[str, Any]]


class RunFailed(RuntimeError):
    """An `automl run` exited with an error."""


def automl_command(
    path: Path, study: str, seed: int, storage: Path, tracking: str, sets: Sequence[str]
) -> list[str]:
    """`automl run` as a user would type it, with this study's name and seed set."""
    command = [sys.executable, "-m", "automl", "run", str(path)]
    command += ["--storage", str(storage), "--tracking-uri", tracking, "--workers", "1"]
    for item in (*sets, f"name={study}", f"seed={seed}"):
        command += ["--set", item]
    return command


def run_arm(
    arm: Arm, seed: int, folder: Path, sets: Sequence[str], dataset_tag: str, log: Path
) -> ArmRun:
    """One arm with one seed, its output appended to `log`; RunFailed when it fails."""
    from automl.spec.reading import load_spec

    path = STUDIES / arm.file
    study = f"{load_spec(path).name}{dataset_tag}-s{seed}"
    storage = folder / "lesson.journal"
    command = automl_command(path, study, seed, storage, f"sqlite:///{folder / 'mlflow.db'}", sets)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    started = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True, env=env, cwd=folder)
    seconds = time.perf_counter() - started
    with log.open("a", encoding="utf-8") as f:
        f.write(f"$ {' '.join(command)}\n{proc.stdout}{proc.stderr}\n")
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise RunFailed(f"{arm.file} seed {seed}: exit {proc.returncode}: {' | '.join(tail)}")
    trials = [to_record(t) for t in load_trials(storage, study)]
    shown = [c if c != sys.executable else "python" for c in command]
    return ArmRun(arm.claim, arm.key, seed, study, shown, seconds, trials)


def run_arms(
    seeds: Sequence[int], claims: Sequence[int], folder: Path, sets: Sequence[str], tag: str
) -> list[ArmRun]:
    """Every arm of the chosen claims with every seed, seed by seed, saying each as it goes."""
    runs: list[ArmRun] = []
    for seed in seeds:
        for arm in (a for a in ARMS if a.claim in claims):
            print(f"claim {arm.claim} {arm.key} seed {seed} ...", flush=True)
            run = run_arm(arm, seed, folder, sets, tag, folder / "runs.log")
            print(f"  {run.study}: {len(run.trials)} trials, {run.seconds:.0f} s", flush=True)
            runs.append(run)
    return runs


def load_trials(storage: Path, study: str) -> list[FrozenTrial]:
    """The study's trials as `automl` counts them: a retried trial once."""
    import optuna

    from automl.run.recovery import superseded
    from automl.run.storage import open_storage

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    loaded = optuna.load_study(study_name=study, storage=open_storage(str(storage)))
    trials = loaded.get_trials(deepcopy=False)
    replaced = superseded(trials)  # a dead worker's trial, run again: count the retry only
    return [t for t in trials if t.number not in replaced]


def to_record(t: FrozenTrial) -> dict[str, Any]:
    """What the analysis needs of a trial, as JSON."""
    return {
        "number": t.number,
        "state": t.state.name,
        "value": t.value,
        "intermediate_values": {str(k): v for k, v in sorted(t.intermediate_values.items())},
        "user_attrs": {
            k: t.user_attrs[k]
            for k in ("hyperparameters", "epochs", "fail_reason", "seed")
            if k in t.user_attrs
        },
        "duration_s": t.duration.total_seconds() if t.duration else None,
    }


def from_record(r: dict[str, Any]) -> FrozenTrial:
    """A FrozenTrial again, as `automl.report.batch_norm.batch_norm_analysis` reads one from a
    storage."""
    from optuna.trial import FrozenTrial, TrialState

    now = dt.datetime.now()
    return FrozenTrial(
        number=int(r["number"]),
        state=TrialState[r["state"]],
        value=r["value"],
        datetime_start=now,
        datetime_complete=now,
        params={},
        distributions={},
        user_attrs=dict(r["user_attrs"]),
        system_attrs={},
        intermediate_values={int(k): float(v) for k, v in r["intermediate_values"].items()},
        trial_id=int(r["number"]),
    )


def runs_of(runs: Sequence[ArmRun], claim: int, arm: str) -> dict[int, list[FrozenTrial]]:
    """One arm's trials, by seed."""
    return {
        r.seed: [from_record(t) for t in r.trials]
        for r in runs
        if r.claim == claim and r.arm == arm
    }


def seconds_of(runs: Sequence[ArmRun], claim: int, arm: str) -> list[float]:
    """How long each of one arm's runs took."""
    return [r.seconds for r in runs if r.claim == claim and r.arm == arm]
