"""Ray Tune's arm of `ray_peer`: the digits study as a Ray user writes it, in its own process.

`OptunaSearch` (Optuna's TPE, seeded) asks the shared space, define-by-run, as the Optuna
script of `compare` asks it; `ASHAScheduler` (time_attr `epoch`, max_t 12, grace_period 1,
reduction_factor 3) stops trials at its rungs; two trials at a time, one CPU each, on the
cluster at `--address`. A trial reports each epoch's val accuracy at epoch e + 1 (the steps
automl and the script report to Hyperband) and is scored by its best epoch. The data reaches
the trials through Ray's object store (`tune.with_parameters`), as Ray's guide does it; each
trial is a fresh actor (Tune's default, `reuse_actors=False`).

    python -m benchmarks.ray_tune_arm --address 127.0.0.1:PORT --seed 0 --out tune.json
"""

from __future__ import annotations

import argparse
import functools
import json
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.compare.arms import best_epoch, suggest
from benchmarks.harness import workload

METRIC = "val_accuracy"
CONCURRENT = 2


def space(seed: int, trial: Any) -> dict[str, Any]:
    """The shared space (Ray's captor of the Optuna trial), and the trial's training seed as the
    script derives it."""
    suggest(trial)
    return {"trial_seed": seed * 1_000_003 + trial.ot_trial.number}


def train(config: dict[str, Any], data: workload.Data, epochs: int) -> None:
    """One trial: automl's CNN fitted as the script fits it, each epoch reported to Tune."""
    import keras
    from ray import tune

    class Report(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            tune.report({METRIC: float((logs or {})[METRIC]), "epoch": epoch + 1})

    values = {k: v for k, v in config.items() if k != "trial_seed"}
    hp = workload.hyperparameters(values)
    callbacks = [best_epoch(epochs), Report()]
    workload.fit(hp, data, epochs, int(config["trial_seed"]), callbacks=callbacks)


def run(address: str, seed: int, trials: int, epochs: int) -> dict[str, Any]:
    """Tune the study on the cluster; epochs trained and the best epoch's val accuracy."""
    import ray
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler
    from ray.tune.search.optuna import OptunaSearch

    ray.init(address=address, logging_level="WARNING", log_to_driver=False)
    data = workload.load(seed)
    search = OptunaSearch(
        space=functools.partial(space, seed), metric=METRIC, mode="max", seed=seed
    )
    scheduler = ASHAScheduler(
        time_attr="epoch",
        metric=METRIC,
        mode="max",
        max_t=epochs,
        grace_period=1,
        reduction_factor=3,
    )
    trainable = tune.with_resources(
        tune.with_parameters(train, data=data, epochs=epochs), {"cpu": 1}
    )
    with tempfile.TemporaryDirectory(prefix="bench-tune-") as folder:
        tuner = tune.Tuner(
            trainable,
            tune_config=tune.TuneConfig(
                search_alg=search,
                scheduler=scheduler,
                num_samples=trials,
                max_concurrent_trials=CONCURRENT,
            ),
            run_config=tune.RunConfig(storage_path=folder, verbose=0),
        )
        results = tuner.fit()
        if results.errors:
            raise RuntimeError(f"{len(results.errors)} Ray Tune trials failed: {results.errors[0]}")
        curves = [r.metrics_dataframe[METRIC].tolist() for r in results]
    ray.shutdown()
    return {
        "trials": len(curves),
        "epochs": sum(len(c) for c in curves),
        "best_val": max(max(c) for c in curves if c),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--address", required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--trials", type=int, default=workload.TRIALS)
    parser.add_argument("--epochs", type=int, default=workload.EPOCHS)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    found = run(args.address, args.seed, args.trials, args.epochs)
    args.out.write_text(json.dumps(found), encoding="utf-8")


if __name__ == "__main__":
    main()
