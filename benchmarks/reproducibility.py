"""How closely does retraining a trial (what `automl export` does without a saved model)
reproduce the value the trial recorded?

Runs a small real study on digits with `automl run`'s supervisor (1 worker, then 2 workers,
each worker then having half the cores), retrains every complete trial in this process with
`automl.results.export.retrain_trial`, and records the gaps. Results: reproducibility.md.

    PYTHONPATH=. python benchmarks/reproducibility.py [--trials 8] [--epochs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

STUDY = """
name: repro
dataset: digits
epochs: {epochs}
sampler: {{name: tpe, seed: 0, n_startup_trials: 4}}
pruner: none
trials: {trials}
seed: 0
params:
  learning_rate: {{low: 1e-4, high: 1e-1, log: true}}
  beta_1: {{low: 0.8, high: 0.95}}
  depth: {{low: 1, high: 2}}
  width: {{low: 8, high: 32, log: true}}
  batch_norm: [true, false]
"""


def measure(workers: int, trials: int, epochs: int, folder: Path) -> dict[str, object]:
    import optuna

    from automl.data.dataset import load_dataset
    from automl.ranking import rank
    from automl.results.export import retrain_trial, stored_spec
    from automl.run.storage import open_storage
    from automl.run.supervisor import run_study
    from automl.spec.reading import load_spec

    path = folder / f"repro-{workers}.yaml"
    path.write_text(STUDY.format(trials=trials, epochs=epochs), encoding="utf-8")
    storage = str(folder / f"repro-{workers}.journal")
    started = time.perf_counter()
    run_study(load_spec(path), storage, None, workers=workers)
    run_s = time.perf_counter() - started
    study = optuna.load_study(study_name="repro", storage=open_storage(storage))
    rows = []
    started = time.perf_counter()
    for t in rank(study.get_trials(), "maximize"):
        spec = stored_spec(study, t)
        data = load_dataset(spec.dataset, spec.seed or 0)
        _, value, seed = retrain_trial(spec, data, t)
        rows.append(
            {
                "trial": t.number,
                "batch_norm": t.user_attrs["hyperparameters"]["batch_norm"],
                "learning_rate": t.user_attrs["hyperparameters"]["learning_rate"],
                "seed": seed,
                "recorded": t.value,
                "retrained": value,
                "gap": abs(value - float(t.value or 0.0)),
            }
        )
    gaps = [float(r["gap"]) for r in rows]  # type: ignore[arg-type]
    return {
        "workers": workers,
        "trials": len(rows),
        "run_s": round(run_s, 1),
        "retrain_s": round(time.perf_counter() - started, 1),
        "exact": sum(1 for g in gaps if g == 0.0),
        "max_gap": max(gaps),
        "median_gap": statistics.median(gaps),
        "best_trial_gap": gaps[0],
        "rows": rows,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=5)
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    results = []
    with tempfile.TemporaryDirectory(prefix="automl-repro-") as tmp:
        for workers in (1, 2):
            results.append(measure(workers, args.trials, args.epochs, Path(tmp)))
    print(
        json.dumps(
            {
                "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
                "tensorflow": tf.__version__,
                "oneDNN": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "default (on)"),
                "results": results,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
