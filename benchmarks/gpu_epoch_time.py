"""Seconds per training epoch of automl's CNN on Fashion-MNIST- and CIFAR-100-sized data.

Feeds the "how long on one GPU" comments of studies/fashion_mnist.yaml and studies/cifar100.yaml.
It needs a GPU. It runs the same model builder (automl.train.model.build_model) under any Keras
3 backend, so a GPU machine with JAX or PyTorch and no TensorFlow runs it with KERAS_BACKEND=jax.
The data is random with the real shapes, fed from NumPy arrays: an epoch's cost depends on the
shapes, not the values. Each model is compiled on a warm-up fit of 20 batches of the timed
size (so no timed epoch traces the step again), then its epochs are timed one by one.

    KERAS_BACKEND=jax python -m benchmarks.gpu_epoch_time [--epochs 2]
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import keras
import numpy as np

from automl.search.space import Hyperparameters
from automl.train.model import build_model
from benchmarks.harness import records, stats

# name: (training images after the 0.2 validation split, image shape, classes)
DATASETS = {
    "fashion_mnist": (48_000, (28, 28, 1), 10),
    "cifar100": (40_000, (32, 32, 3), 100),
}
MODELS = [
    Hyperparameters(depth=2, width=32, batch_norm=False, batch_size=128),
    Hyperparameters(depth=3, width=64, batch_norm=True, batch_size=128),
    Hyperparameters(depth=4, width=64, batch_norm=True, batch_size=64),
]


class EpochTimer(keras.callbacks.Callback):
    """Each epoch's seconds."""

    def __init__(self) -> None:
        super().__init__()
        self.seconds: list[float] = []

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.seconds.append(time.perf_counter() - self.started)


def epoch_seconds(
    hp: Hyperparameters, n: int, shape: tuple[int, ...], classes: int, epochs: int
) -> list[float]:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(n, *shape), dtype=np.uint8).astype(np.float32)
    y = rng.integers(0, classes, size=n)
    model = build_model(hp, shape, classes, 255.0)
    warm = hp.batch_size * 20  # compiles and traces at the timed batch size
    model.fit(x[:warm], y[:warm], batch_size=hp.batch_size, epochs=1, verbose=0)
    timer = EpochTimer()
    model.fit(x, y, batch_size=hp.batch_size, epochs=epochs, callbacks=[timer], verbose=0)
    keras.backend.clear_session()
    return timer.seconds


QUESTION = "How many seconds does an epoch of automl's CNN take on one GPU?"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=QUESTION)
    parser.add_argument("--epochs", type=int, default=2, help="timed epochs per model")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    rows = []
    for name, (n, shape, classes) in DATASETS.items():
        for hp in MODELS:
            seconds = epoch_seconds(hp, n, shape, classes, args.epochs)
            rows.append({"dataset": name, **hp.as_dict(), "epoch_s": seconds})
    with records.teed() as shown:
        print(f"Keras {keras.__version__}, backend {keras.backend.backend()}\n")
        print(f"| data set | depth | width | BN | batch | s/epoch ({args.epochs} epochs) |")
        print("| --- | --- | --- | --- | --- | --- |")
        for r in rows:
            print(
                f"| {r['dataset']} | {r['depth']} | {r['width']} | {r['batch_norm']} "
                f"| {r['batch_size']} | {stats.spread(r['epoch_s'])} |"
            )
    records.save("gpu_epoch_time", shown.getvalue(), rows, QUESTION, started, argv)


if __name__ == "__main__":
    main()
