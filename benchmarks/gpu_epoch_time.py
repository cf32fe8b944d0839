"""Seconds per training epoch of automl's CNN on Fashion-MNIST- and CIFAR-100-sized data.

Feeds the "how long on one GPU" comments of studies/fashion_mnist.yaml and studies/cifar100.yaml.
Runs the same model builder (automl.train.model.build_model) under any Keras 3 backend: the GPU
machine it was measured on has JAX and PyTorch but no TensorFlow, so there it runs with
KERAS_BACKEND=jax. The data is random with the real shapes (the machine cannot download data
sets); an epoch's cost depends on the shapes, not the values.

    KERAS_BACKEND=jax python benchmarks/gpu_epoch_time.py > benchmarks/GPU.md
"""

from __future__ import annotations

import platform
import time

import keras
import numpy as np

from automl.search.space import Hyperparameters
from automl.train.model import build_model

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


def epoch_seconds(hp: Hyperparameters, n: int, shape: tuple[int, ...], classes: int) -> float:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(n, *shape), dtype=np.uint8).astype(np.float32)
    y = rng.integers(0, classes, size=n)
    model = build_model(hp, shape, classes, 255.0)
    model.fit(x[: hp.batch_size * 20], y[: hp.batch_size * 20], epochs=1, verbose=0)  # compile
    start = time.perf_counter()
    model.fit(x, y, batch_size=hp.batch_size, epochs=2, verbose=0)
    keras.backend.clear_session()
    return (time.perf_counter() - start) / 2


def main() -> None:
    print(
        f"# Seconds per epoch, Keras {keras.__version__} backend {keras.backend.backend()}, "
        f"{platform.node()}\n"
    )
    print("| data set | depth | width | BN | batch | s/epoch |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, (n, shape, classes) in DATASETS.items():
        for hp in MODELS:
            seconds = epoch_seconds(hp, n, shape, classes)
            print(
                f"| {name} | {hp.depth} | {hp.width} | {hp.batch_norm} | {hp.batch_size} "
                f"| {seconds:.2f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
