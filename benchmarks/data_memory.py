"""Memory of a CIFAR-100-sized data set in one worker process, and the pipeline's share of it.

Writes random uint8 images in CIFAR-100's python format (50,000 training and 10,000 test
images, 32x32x3, fine and coarse labels) into a temporary Keras cache, then measures each stage
in a fresh process: RSS (psutil) when the stage ends, and the peak RSS (getrusage).

- tensorflow: TensorFlow imported, the floor every worker pays;
- loaded: + `load_dataset` (40,000 training, 10,000 validation, 10,000 test images, uint8),
  from the extracted folder, and from the .tar.gz;
- pipeline: + two epochs through `pipelines` (shuffled index batches gathered from the arrays,
  cast to float32 per batch);
- cached slices: the same two epochs through `from_tensor_slices(...).cache().shuffle(n)`,
  the usual recipe, on the same uint8 arrays; and with the images cast to float32 first;
- trials: + N trials (a small CNN, one epoch each, `keras.backend.clear_session()` between, as
  `Objective` does) through `pipelines`, RSS after each.

MB are MiB of resident memory. The seconds are rough on a shared machine; the memory is not.
TensorFlow keeps some state per model built, even after `clear_session`, which is why a worker
retires once its memory has grown past a limit (`automl.run.worker`).

    python -m benchmarks.data_memory [--trials 3]
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import resource
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.harness import records
from benchmarks.harness.automl_cli import env_with_repo

TRAIN, TEST = 50_000, 10_000
STAGES = (
    "tensorflow",
    "loaded",
    "loaded-tar",
    "pipeline",
    "cached-slices",
    "cached-slices-float32",
    "trials",
)


def write_cifar100(datasets: Path, archive: Path) -> None:
    """cifar-100-python/{train,test,meta} in the cache, and the same in a .tar.gz apart."""
    rng = np.random.default_rng(0)
    folder = datasets / "cifar-100-python"
    folder.mkdir(parents=True)
    for name, n in (("train", TRAIN), ("test", TEST)):
        fine = rng.integers(0, 100, n).tolist()
        batch = {
            b"fine_labels": fine,
            b"coarse_labels": [f // 5 for f in fine],
            b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
        }
        (folder / name).write_bytes(pickle.dumps(batch, protocol=3))
    meta = {
        b"fine_label_names": [f"fine{i}".encode() for i in range(100)],
        b"coarse_label_names": [f"coarse{i}".encode() for i in range(20)],
    }
    (folder / "meta").write_bytes(pickle.dumps(meta, protocol=3))
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname="cifar-100-python")


def rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def stage(name: str, trials: int, archive: Path) -> dict[str, Any]:
    """Run one stage in this (fresh) process and return its figures."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras
    import tensorflow as tf

    from automl.data.dataset import load_dataset
    from automl.data.pipeline import pipelines
    from automl.spec.schema import DatasetSpec

    out: dict[str, Any] = {"stage": name, "tensorflow_mb": rss_mb()}
    if name == "tensorflow":
        return {**out, "rss_mb": rss_mb(), "peak_mb": peak_mb()}
    spec = DatasetSpec(name="cifar100", path=str(archive) if name == "loaded-tar" else None)
    started = time.perf_counter()
    data = load_dataset(spec, 0)
    out["load_s"] = time.perf_counter() - started
    out["loaded_mb"] = rss_mb()
    out["arrays_mb"] = (
        sum(a.nbytes for a in (data.x_train, data.x_val, data.x_test) if a is not None) / 2**20
    )
    if name in ("pipeline", "cached-slices", "cached-slices-float32"):
        if name == "pipeline":
            train, val = pipelines(data, 64, seed=0)
        else:
            x = data.x_train.astype(np.float32) if name.endswith("float32") else data.x_train
            train = (
                tf.data.Dataset.from_tensor_slices((x, data.y_train))
                .cache()
                .shuffle(len(data.y_train), seed=0, reshuffle_each_iteration=True)
                .batch(64)
                .prefetch(tf.data.AUTOTUNE)
            )
            val = (
                tf.data.Dataset.from_tensor_slices((data.x_val, data.y_val))
                .batch(256)
                .cache()
                .prefetch(tf.data.AUTOTUNE)
            )
        started = time.perf_counter()
        for _ in range(2):
            for _batch in train:
                pass
            for _batch in val:
                pass
        out["epoch_s"] = (time.perf_counter() - started) / 2
    if name == "trials":
        from automl.search.space import Hyperparameters
        from automl.train.model import build_model

        hp = Hyperparameters(depth=2, width=16, batch_size=128)
        out["after_trial_mb"] = []
        out["trial_s"] = []
        for trial in range(trials):
            keras.backend.clear_session()
            started = time.perf_counter()
            model = build_model(hp, data.input_shape, data.num_classes, data.input_scale)
            train, val = pipelines(data, hp.batch_size, seed=trial)
            model.fit(train, validation_data=val, epochs=1, verbose=0, shuffle=False)
            out["trial_s"].append(time.perf_counter() - started)
            del model, train, val
            out["after_trial_mb"].append(rss_mb())
    return {**out, "rss_mb": rss_mb(), "peak_mb": peak_mb()}


QUESTION = "How much memory does a CIFAR-100-sized data set take in a worker, and its pipeline?"


def measure(trials: int) -> list[dict[str, Any]]:
    """Every stage in a fresh process, on random CIFAR-100 files in a temporary Keras cache."""
    with tempfile.TemporaryDirectory() as tmp:
        home, archive = Path(tmp) / "keras", Path(tmp) / "cifar-100-python.tar.gz"
        write_cifar100(home / "datasets", archive)
        env = {**env_with_repo(), "KERAS_HOME": str(home)}
        results = []
        for name in STAGES:
            command = [sys.executable, "-m", "benchmarks.data_memory", "--stage", name]
            command += ["--trials", str(trials), "--archive", str(archive)]
            done = subprocess.run(command, env=env, capture_output=True, text=True)
            if done.returncode != 0:
                sys.exit(f"stage {name} failed:\n{done.stderr}")
            results.append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(f"{name}: done", file=sys.stderr, flush=True)
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=QUESTION)
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--stage", choices=STAGES, help=argparse.SUPPRESS)
    parser.add_argument("--archive", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.stage:  # a child: one stage, figures as JSON
        print(json.dumps(stage(args.stage, args.trials, args.archive)))
        return
    started = time.perf_counter()
    results = measure(args.trials)
    with records.teed() as shown:
        report(results, args.trials)
    records.save("data_memory", shown.getvalue(), results, QUESTION, started, argv)


def report(results: list[dict[str, Any]], trials: int) -> None:
    by = {r["stage"]: r for r in results}
    print(
        f"Random uint8 images in CIFAR-100's python format ({TRAIN:,} + {TEST:,}, 32x32x3). "
        "Each stage in a fresh process. MB = MiB of resident memory.\n"
    )
    print("| stage | RSS at end | peak RSS | over TensorFlow alone | seconds |")
    print("| --- | --- | --- | --- | --- |")
    floor = by["tensorflow"]["rss_mb"]
    for r in results:
        seconds = (
            f"load {r['load_s']:.1f}" if "load_s" in r and r["stage"].startswith("loaded") else ""
        )
        if "epoch_s" in r:
            seconds = f"load {r['load_s']:.1f}, epoch {r['epoch_s']:.1f}"
        if "trial_s" in r:
            seconds = "trials " + ", ".join(f"{s:.0f}" for s in r["trial_s"])
        print(
            f"| {r['stage']} | {r['rss_mb']:.0f} | {r['peak_mb']:.0f} | "
            f"{r['rss_mb'] - floor:+.0f} | {seconds} |"
        )
    loaded = by["loaded"]
    print(
        f"\nThe arrays themselves (train + validation + test, uint8): {loaded['arrays_mb']:.0f} MB."
    )
    print(
        f"RSS after each of {trials} trials: "
        + ", ".join(f"{m:.0f}" for m in by["trials"]["after_trial_mb"])
        + " MB."
    )


if __name__ == "__main__":
    main()
