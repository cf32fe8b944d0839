"""How closely does retraining a trial (what `automl export` does without a saved model)
reproduce the value the trial recorded?

`automl export` retrains the best trial when its model was not saved (or was deleted when it
fell out of the study's top K). Retraining reuses the objective that ran the trial, with every
hyperparameter fixed to the trial's, the trial's number (hence its seed:
`objective.trial_seed(study seed, number)`, applied with `keras.utils.set_random_seed` before
the model is built), the study's data split and epochs.

This runs a small TPE study on digits (learning rate 1e-4..1e-1, β1, depth 1-2, width 8-32,
batch_norm) with `automl run`'s supervisor, with 1 worker (all the cores) and then with 2
workers (each with half the cores), retrains every complete trial in this process (default
threads) with `automl.results.export.retrain_trial`, and records the gaps. `automl export`
prints the gap each time it retrains, so a user sees it for their own study and hardware; on
GPUs (cuDNN) or with other data sets it need not be zero, which is why it is measured.

    python -m benchmarks.reproducibility [--trials 8] [--epochs 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.harness import records, stats

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


def measure(workers: int, trials: int, epochs: int, folder: Path) -> dict[str, Any]:
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
        "run_s": run_s,
        "retrain_s": time.perf_counter() - started,
        "exact": sum(1 for g in gaps if g == 0.0),
        "max_gap": max(gaps),
        "median_gap": statistics.median(gaps),
        "best_trial_gap": gaps[0],
        "rows": rows,
    }


QUESTION = (
    "How closely does retraining a trial, as `automl export` does without a saved model, "
    "reproduce the value the trial recorded?"
)


def report(results: list[dict[str, Any]]) -> None:
    print(
        "| workers | trials retrained | identical value | largest gap | median gap "
        "| recorded values | study run s | retraining all s |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in results:
        recorded = stats.finite(row["recorded"] for row in r["rows"])
        print(
            f"| {r['workers']} | {r['trials']} | {r['exact']} | {r['max_gap']:.4f} "
            f"| {r['median_gap']:.4f} | {recorded[0]:.2f}–{recorded[-1]:.2f} "
            f"| {r['run_s']:.1f} | {r['retrain_s']:.1f} |"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=QUESTION)
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=5)
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="automl-repro-") as tmp:
        results = [measure(w, args.trials, args.epochs, Path(tmp)) for w in (1, 2)]
    with records.teed() as shown:
        print(f"{args.trials} trials of {args.epochs} epochs on digits, each retrained\n")
        report(results)
    records.save(
        "reproducibility",
        shown.getvalue(),
        {"oneDNN": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "default (on)"), "results": results},
        QUESTION,
        started,
        argv,
    )


if __name__ == "__main__":
    main()
