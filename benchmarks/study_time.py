"""How long the shipped Fashion-MNIST and CIFAR-100 studies take: an estimate in two parts.

Feeds the "how long" comments of studies/fashion_mnist.yaml and studies/cifar100.yaml.

1. Seconds per epoch on this machine's CPU, for the three models `benchmarks.gpu_epoch_time`
   times on one GPU. Random uint8 images of the real shapes go through automl's own pipeline
   (`automl.data.pipeline.pipelines`) into `automl.train.model.build_model`'s CNN. A full epoch
   on 2 cores takes minutes, so this times 40 training and 8 validation steps after a warm-up and
   scales them to an epoch's 48,000 / 40,000 training and 12,000 / 10,000 validation images.
2. Epochs a study trains in all, under its own sampler and pruner (`automl.search.factories`), with
   learning curves drawn at random (each trial a random final accuracy approached as
   1 - exp(-epoch/3), plus noise): the pruner's share depends on the curves, so this is a
   rough figure, over 5 seeds. The Hyperband count also varies from run to run (Optuna assigns
   brackets by hashing the study's random name).

Time of a study = epochs in all x seconds per epoch (plus a few seconds per trial).

    python -m benchmarks.study_time [--seeds 5]
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402 - after the log level
import numpy as np  # noqa: E402
import optuna  # noqa: E402

from automl.data.dataset import Dataset
from automl.data.pipeline import pipelines
from automl.run.study import budget
from automl.search.factories import make_pruner, make_sampler
from automl.search.space import Hyperparameters, suggest
from automl.spec.reading import load_spec
from automl.spec.schema import StudySpec
from automl.train.model import build_model
from benchmarks.harness import records, stats

# name: (training images, validation images, image shape, classes), after the 0.2 split
DATASETS = {
    "fashion_mnist": (48_000, 12_000, (28, 28, 1), 10),
    "cifar100": (40_000, 10_000, (32, 32, 3), 100),
}
MODELS = [
    Hyperparameters(depth=2, width=32, batch_norm=False, batch_size=128),
    Hyperparameters(depth=3, width=64, batch_norm=True, batch_size=128),
    Hyperparameters(depth=4, width=64, batch_norm=True, batch_size=64),
]
TRAIN_STEPS, VAL_STEPS = 40, 8
SAMPLE = 4_096  # distinct images enough for the timed steps; an epoch's cost is per image


def random_dataset(shape: tuple[int, ...], classes: int) -> Dataset:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(SAMPLE, *shape), dtype=np.uint8)
    y = rng.integers(0, classes, size=SAMPLE)
    names = tuple(str(c) for c in range(classes))
    return Dataset(x, y, x[:2048], y[:2048], None, None, names, 255.0, "random")


def epoch_seconds(hp: Hyperparameters, n: int, n_val: int, data: Dataset) -> float:
    model = build_model(hp, data.input_shape, data.num_classes, data.input_scale)
    train, val = pipelines(data, hp.batch_size, seed=0)
    model.fit(train.take(3), epochs=1, verbose=0, shuffle=False)  # traces and compiles
    model.evaluate(val.take(1), verbose=0)
    started = time.perf_counter()
    model.fit(train.take(TRAIN_STEPS), epochs=1, verbose=0, shuffle=False)
    per_train_step = (time.perf_counter() - started) / TRAIN_STEPS
    started = time.perf_counter()
    model.evaluate(val.take(VAL_STEPS), verbose=0)
    per_val_step = (time.perf_counter() - started) / VAL_STEPS
    keras.backend.clear_session()
    val_batch = max(hp.batch_size, 256)
    return math.ceil(n / hp.batch_size) * per_train_step + math.ceil(n_val / val_batch) * (
        per_val_step
    )


def study_epochs(spec: StudySpec, seeds: int) -> list[int]:
    """Epochs a study trains in all under its sampler and pruner (simulated curves), per seed."""
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    rng = np.random.default_rng(0)
    epochs = 0

    def objective(trial: optuna.Trial) -> float:
        nonlocal epochs
        suggest(trial, spec)
        final = rng.uniform(0.1, 0.6)
        value = 0.0
        for epoch in range(1, spec.epochs + 1):
            epochs += 1
            value = final * (1 - math.exp(-epoch / 3)) + rng.normal(0, 0.01)
            trial.report(value, epoch)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return value

    per_seed = []
    for _ in range(seeds):
        epochs = 0
        study = optuna.create_study(
            direction=spec.direction, sampler=make_sampler(spec), pruner=make_pruner(spec)
        )
        study.optimize(objective, n_trials=budget(spec))
        per_seed.append(epochs)
    return per_seed


QUESTION = "How long do the shipped Fashion-MNIST and CIFAR-100 studies take on this machine's CPU?"
STUDIES = ("fashion_mnist.yaml", "cifar100.yaml")


def measure(seeds: int) -> dict[str, Any]:
    seconds = []
    for name, (n, n_val, shape, classes) in DATASETS.items():
        data = random_dataset(shape, classes)
        for hp in MODELS:
            seconds.append(
                {"dataset": name, **hp.as_dict(), "s_per_epoch": epoch_seconds(hp, n, n_val, data)}
            )
            print(f"{name}, depth {hp.depth}: done", file=sys.stderr, flush=True)
    folder = Path(__file__).resolve().parents[1] / "studies"
    studies = []
    for name in STUDIES:
        spec = load_spec(folder / name)
        studies.append(
            {
                "study": name,
                "trials": budget(spec),
                "epochs": spec.epochs,
                "epochs_in_all": study_epochs(spec, seeds),
            }
        )
    return {"epochs": seconds, "studies": studies}


def report(data: dict[str, Any], seeds: int) -> None:
    print(f"Seconds per epoch on CPU (an estimate), Keras backend {keras.backend.backend()}\n")
    print("| data set | depth | width | BN | batch | s/epoch |")
    print("| --- | --- | --- | --- | --- | --- |")
    for r in data["epochs"]:
        print(
            f"| {r['dataset']} | {r['depth']} | {r['width']} | {r['batch_norm']} "
            f"| {r['batch_size']} | {r['s_per_epoch']:.0f} |"
        )
    print(f"\n| study | trials | most epochs | epochs in all (simulated, {seeds} seeds) |")
    print("| --- | --- | --- | --- |")
    for r in data["studies"]:
        print(
            f"| {r['study']} | {r['trials']} | {r['epochs']} "
            f"| {stats.spread(r['epochs_in_all'], '.0f')} |"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=QUESTION)
    parser.add_argument("--seeds", type=int, default=5, help="simulated runs of each study")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    data = measure(args.seeds)
    with records.teed() as shown:
        report(data, args.seeds)
    records.save("study_time", shown.getvalue(), data, QUESTION, started, argv)


if __name__ == "__main__":
    main()
