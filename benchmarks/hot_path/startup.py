"""A worker's fixed costs outside training: its interpreter's imports and first MLflow client,
and what MLflow writes per trial."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.harness import stats, workload
from benchmarks.harness.automl_cli import env_with_repo


def mlflow_per_trial(trials: int, epochs: int) -> dict[str, Any]:
    """What TrialTracker writes for one trial: the run, its params, its metrics, its end."""
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param, RunTag

    with tempfile.TemporaryDirectory(prefix="bench-mlflow-") as tmp:
        client = MlflowClient(tracking_uri=f"sqlite:///{Path(tmp) / 'mlflow.db'}")
        experiment = client.create_experiment("x")
        parent = client.create_run(experiment).info.run_id
        params = workload.hyperparameters(workload.random_configs(1, 0)[0]).as_dict()
        costs = []
        for _ in range(trials):
            t0 = time.perf_counter()
            run = client.create_run(experiment, tags={"mlflow.parentRunId": parent})
            run_id = run.info.run_id
            client.log_batch(run_id, params=[Param(k, str(v)) for k, v in params.items()])
            now = int(time.time() * 1000)
            metrics = [
                Metric(k, 0.5, now, e)
                for e in range(1, epochs + 1)
                for k in ("loss", "accuracy", "val_loss", "val_accuracy")
            ]
            client.log_batch(run_id, metrics=metrics, tags=[RunTag("state", "COMPLETE")])
            client.set_terminated(run_id, status="FINISHED")
            costs.append(time.perf_counter() - t0)
    print(
        f"MLflow writes per trial ({epochs} epochs of 4 metrics, SQLite), s over {trials} "
        f"trials: {stats.spread(costs, '.3f')}"
    )
    return {"seconds": costs}


# In this order: the first MLflow line creates the store, the second opens it again.
STARTUP = {
    "import tensorflow": "import tensorflow",
    "import mlflow, client on a new SQLite store": (
        "import sys; from mlflow import MlflowClient; "
        "MlflowClient(tracking_uri='sqlite:///' + sys.argv[1]).search_experiments()"
    ),
    "import mlflow, client on an existing store": (
        "import sys; from mlflow import MlflowClient; "
        "MlflowClient(tracking_uri='sqlite:///' + sys.argv[1]).search_experiments()"
    ),
    "import optuna": "import optuna",
    "python, nothing imported": "pass",
}


def startup() -> dict[str, float]:
    """Seconds of a fresh interpreter doing each of STARTUP's lines."""
    print("| a fresh interpreter doing | seconds |")
    print("| --- | --- |")
    seconds = {}
    with tempfile.TemporaryDirectory(prefix="bench-start-") as tmp:
        db = str(Path(tmp) / "mlflow.db")
        for name, code in STARTUP.items():
            t0 = time.perf_counter()
            subprocess.run(
                [sys.executable, "-c", code, db],
                check=True,
                env=env_with_repo(),
                capture_output=True,
            )
            seconds[name] = time.perf_counter() - t0
            print(f"| {name} | {seconds[name]:.2f} |")
    return seconds
