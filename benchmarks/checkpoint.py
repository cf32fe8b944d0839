"""What a trial's per-epoch checkpoint costs against the epoch it follows.

python -m benchmarks.checkpoint [--seeds 3] [--epochs 5]

For digits (the default space's model) and a CIFAR-sized data set (32x32x3 random images,
10 classes, generated here), each seed trains one model the way a trial does, with
`automl.train.resume.EpochCheckpoint` saving its state after every epoch but the last into a
temporary folder, and times each epoch (without its save), each save, each file's size, what
an fsync of it would add (saves do not fsync), and taking the last checkpoint up again (reading
it and putting it back into a fresh model). The ratio is the mean save over the median epoch
after the first (the first traces the step).
`study-file.md` and `automl.spec.rules.DEFAULT_CHECKPOINT_EVERY` take their default from it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from automl.backend import load_keras
from automl.data.dataset import Dataset, load_dataset
from automl.search.space import Hyperparameters
from automl.spec.rules import parse
from automl.spec.schema import DatasetSpec
from benchmarks.harness import records
from benchmarks.harness.stats import spread

CIFAR_SIZE = 5_000


def cifar_sized(seed: int) -> Dataset:
    """Random 32x32x3 uint8 images in 10 classes, 80% to train (the shape and dtype of CIFAR-10)."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, size=(CIFAR_SIZE, 32, 32, 3), dtype=np.uint8)
    y = rng.integers(0, 10, size=CIFAR_SIZE, dtype=np.int64)
    cut = CIFAR_SIZE * 4 // 5
    names = tuple(str(i) for i in range(10))
    return Dataset(x[:cut], y[:cut], x[cut:], y[cut:], None, None, names, 255.0, "random")


def measure(data: Dataset, seed: int, epochs: int, folder: Path) -> dict[str, Any]:
    """Train one model for `epochs` epochs with a checkpoint after each but the last."""
    keras = load_keras()
    from automl.data.pipeline import pipelines
    from automl.train.checkpoint import TrialCheckpoints
    from automl.train.model import build_model, build_training_state, clear_keras_state
    from automl.train.resume import EpochCheckpoint, restore

    hp = Hyperparameters()  # the default space's model
    spec = parse({"name": "checkpoint-bench", "epochs": epochs, "checkpoint_every": 1})

    def fresh() -> tuple[Any, Any, Any]:
        clear_keras_state()
        keras.utils.set_random_seed(seed)
        model = build_model(hp, data.input_shape, data.num_classes, data.input_scale)
        train, val = pipelines(data, hp.batch_size, seed)
        build_training_state(model, data.x_train[:2], data.y_train[:2])
        return model, train, val

    class Timed(TrialCheckpoints):
        def __init__(self, folder: Path, key: str) -> None:
            super().__init__(folder, key)
            self.saves: list[float] = []

        def save(self, checkpoint: Any) -> Path:
            began = time.perf_counter()
            path = super().save(checkpoint)
            self.saves.append(time.perf_counter() - began)
            return path

    class EpochClock(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.seconds: list[float] = []
            self.began = 0.0

        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            self.began = time.perf_counter()

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            self.seconds.append(time.perf_counter() - self.began)

    model, train, val = fresh()
    store = Timed(folder, f"seed{seed}")
    history: list[dict[str, float]] = []
    clock = EpochClock()
    keep = keras.callbacks.LambdaCallback(on_epoch_end=lambda e, logs: history.append(logs))
    saver = EpochCheckpoint(store, spec, history, None)
    callbacks = [clock, keep, saver]
    model.fit(
        train, validation_data=val, epochs=epochs, callbacks=callbacks, shuffle=False, verbose=0
    )
    began = time.perf_counter()
    checkpoint = store.latest()
    read = time.perf_counter() - began
    model, train, _ = fresh()
    began = time.perf_counter()
    assert checkpoint is not None
    restore(model, checkpoint, train, None)
    put_back = time.perf_counter() - began
    epoch_seconds = statistics.median(clock.seconds[1:])
    saved = store.path(checkpoint.epoch)
    return {
        "seed": seed,
        "epoch_seconds": [round(s, 4) for s in clock.seconds],
        "save_seconds": [round(s, 4) for s in store.saves],
        "file_bytes": saved.stat().st_size,
        "fsync_seconds": fsync_seconds(saved),
        "resume_seconds": round(read + put_back, 4),
        "ratio": round(statistics.mean(store.saves) / epoch_seconds, 5),
    }


def fsync_seconds(path: Path) -> float:
    """What an fsync would add to a save: the file written again and flushed to the disk."""
    blob = path.read_bytes()
    copy = path.with_suffix(".fsync")
    with copy.open("wb") as out:
        out.write(blob)
        out.flush()
        began = time.perf_counter()
        os.fsync(out.fileno())
        seconds = time.perf_counter() - began
    copy.unlink()
    return round(seconds, 4)


QUESTION = "What does a trial's per-epoch checkpoint cost against the epoch it follows?"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=QUESTION)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=5)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    sets = {
        "digits": lambda seed: load_dataset(DatasetSpec(), seed),
        f"cifar_sized_{CIFAR_SIZE}": cifar_sized,
    }
    measurements: dict[str, list[dict[str, Any]]] = {}
    folder = Path(tempfile.mkdtemp(prefix="automl-checkpoint-bench-"))
    try:
        for name, make in sets.items():
            measurements[name] = [
                measure(make(seed), seed, args.epochs, folder / f"{name}-{seed}")
                for seed in range(args.seeds)
            ]
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    with records.teed() as shown:
        report(measurements, args.seeds, args.epochs)
    records.save("checkpoint", shown.getvalue(), measurements, QUESTION, started, argv)


def report(measurements: dict[str, list[dict[str, Any]]], seeds: int, epochs: int) -> None:
    print(
        f"The default space's model, {epochs} epochs, a checkpoint after each but the last, "
        f"{seeds} seeds; each cell: median [min–max] over the seeds.\n"
    )
    print("| data | epoch s | save s | save / epoch | file KB | fsync s (not done) | resume s |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, runs in measurements.items():
        epoch = [statistics.median(r["epoch_seconds"][1:]) for r in runs]
        save = [statistics.mean(r["save_seconds"]) for r in runs]
        print(
            f"| {name} | {spread(epoch, '.3f')} | {spread(save, '.4f')} "
            f"| {spread([100 * r['ratio'] for r in runs], '.2f')}% "
            f"| {spread([r['file_bytes'] / 1000 for r in runs], '.0f')} "
            f"| {spread([r['fsync_seconds'] for r in runs], '.4f')} "
            f"| {spread([r['resume_seconds'] for r in runs], '.3f')} |"
        )


if __name__ == "__main__":
    main()
