"""Helpers for tests that run `automl run` as real processes and read the study they leave."""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import optuna

from automl.run.recovery import superseded
from automl.run.storage import open_storage
from tests.postgres import ENV, server_url

REPO = Path(__file__).resolve().parents[1]
# A grid of 6 cells that trains in about a second a trial on digits.
GRID = {"learning_rate": [0.03, 0.01, 0.003], "width": [8, 16]}
# Batches of 8 make a digits epoch long enough (~0.3 s) that a trial a probe finds in training
# is still training when a signal sent then reaches its worker, on a busy machine too; with the
# default batches it could end first.
SLOW_BATCHES = {"batch_size": [8]}


def study_file(
    folder: Path,
    name: str,
    *,
    sampler: str = "grid",
    trials: int | None = None,
    epochs: int = 1,
    grid: dict[str, list[Any]] | None = None,
) -> Path:
    """A small digits study: a grid (or random search over the same values)."""
    lines = [
        f"name: {name}",
        "dataset: digits",
        f"epochs: {epochs}",
        f"sampler: {{name: {sampler}, seed: 0}}",
        "pruner: none",
        "seed: 0",
    ]
    if trials is not None:
        lines.append(f"trials: {trials}")
    lines.append("params:")
    for param, values in (grid or GRID).items():
        lines.append(f"  {param}: {values}")
    lines.append("  depth: 1")
    path = folder / f"{name}.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def environment(folder: Path) -> dict[str, str]:
    """This checkout's code, an MLflow store in `folder`, no storage from the caller's shell."""
    env = dict(os.environ)
    env.pop("AUTOML_STORAGE", None)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{folder / 'mlflow.db'}"
    return env


def start_run(
    folder: Path,
    spec: Path,
    *options: str,
    prefix: Sequence[str] = (),
    env: dict[str, str] | None = None,
) -> subprocess.Popen[str]:
    """`automl run SPEC OPTIONS` in `folder`, in its own process group (as a shell starts it)."""
    return subprocess.Popen(
        [*prefix, sys.executable, "-m", "automl", "run", str(spec), *options],
        cwd=folder,
        env={**environment(folder), **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def finish(proc: subprocess.Popen[str], timeout: float = 240) -> tuple[int, str]:
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        out, _ = proc.communicate()
        raise AssertionError(f"automl run did not finish in {timeout} s:\n{out}") from None
    return proc.returncode, out


@functools.lru_cache(maxsize=8)
def _storage(storage: str) -> optuna.storages.BaseStorage:
    return open_storage(storage)


def trials(storage: str, name: str) -> list[optuna.trial.FrozenTrial]:
    """The study's trials as they stand now; none before the study exists."""
    try:
        study = optuna.load_study(study_name=name, storage=_storage(storage))
    except KeyError:
        return []
    return study.get_trials(deepcopy=False)


def wait_for(
    what: str, probe: Callable[[], Any], proc: subprocess.Popen[str] | None, timeout: float = 120
) -> Any:
    """Poll `probe` until it returns something truthy; fail early if `proc` has ended."""
    end = time.time() + timeout
    while time.time() < end:
        found = probe()
        if found:
            return found
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"automl run ended before {what}:\n{proc.communicate()[0]}")
        time.sleep(0.2)
    raise AssertionError(f"no {what} within {timeout} s")


def training_trial(
    storage: str, name: str, host: str | None = None
) -> optuna.trial.FrozenTrial | None:
    """A RUNNING trial past its first epoch and before its fourth, so a signal sent now lands
    mid-training with epochs to spare. Tests give their trials ~8 epochs: at 3 a digits trial
    could end between two probes, and a trial found at its last epoch can end before the signal
    arrives."""
    for t in trials(storage, name):
        worker = t.user_attrs.get("worker")
        mine = worker and (host is None or worker["host"] == host)
        if t.state.name == "RUNNING" and mine and 1 <= len(t.intermediate_values) <= 3:
            return t
    return None


def live(all_trials: Sequence[optuna.trial.FrozenTrial]) -> list[optuna.trial.FrozenTrial]:
    """The trials that stand: all but the failures a retry replaced."""
    replaced = superseded(all_trials)
    return [t for t in all_trials if t.number not in replaced]


def cells(all_trials: Sequence[optuna.trial.FrozenTrial]) -> Counter[tuple[Any, ...]]:
    """How often each parameter combination stands among the trials."""
    return Counter(tuple(sorted(t.params.items())) for t in live(all_trials))


def grid_cells(grid: dict[str, list[Any]] | None = None) -> set[tuple[Any, ...]]:
    grid = grid or GRID
    out: list[dict[str, Any]] = [{}]
    for name, values in grid.items():
        out = [{**c, name: v} for c in out for v in values]
    return {tuple(sorted(c.items())) for c in out}


def postgres_url() -> str:
    """The test PostgreSQL server's URL (started on first use); skips the test without one."""
    url = server_url()
    if url is None:
        import pytest

        pytest.skip(f"no PostgreSQL here: install its server binaries or set {ENV}")
    return url
