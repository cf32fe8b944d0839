"""Candidate changes to automl's hot path, each measured alone on the shared workload.

The profile (overhead.py) says where a worker's time goes; this measures what a change there
would save, without changing automl:

1. `keras.backend.clear_session()` runs a full `gc.collect()` over every object TensorFlow,
   MLflow and Optuna created at import (~500k): timed per trial as automl calls it, then after
   `gc.freeze()` moves those start-up objects out of the collector's way, with the RSS each
   model leaves behind in both cases (and with glibc's `malloc_trim` on top).
2. `steps_per_execution`: on 8x8 images a training step is tiny, so Keras's per-step Python
   round trip weighs; fit seconds per epoch at 1 and at STEPS steps per call, same models.
3. MLflow per trial: what TrialTracker writes for one trial (create the run, log the params,
   log the per-epoch metrics, terminate), timed against a SQLite store.
4. A worker's start: importing TensorFlow, importing MLflow and opening a client on a new and
   on an existing SQLite store, each in a fresh interpreter.
5. Adam's update: automl's fused kernel (`automl.train.fused_adam.fuse_adam_update`) against
   Keras's own, first epoch (the trace) and later epochs, the same models taking turns.
6. What `restore_best_weights` costs: one copy of a model's weights per improving epoch.
7. tf.data's autotuner, on (TensorFlow's default) and off (automl's pipelines): later-epoch
   seconds of processes with one TensorFlow thread each, as `--workers 2` runs them, one alone
   and two side by side on the two cores.

    python -m benchmarks.hot_path [--only fused_adam best_epoch autotune ...]
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import multiprocessing
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.harness import workload
from benchmarks.harness.automl_cli import env_with_repo
from benchmarks.harness.machine import describe

STEPS = 16
PARTS = (
    "startup",
    "mlflow",
    "clear_session",
    "steps_per_execution",
    "fused_adam",
    "best_epoch",
    "autotune",
)


def rss_mb() -> float:
    import psutil

    return float(psutil.Process().memory_info().rss / 2**20)


def clear_session_cost(models: int, epochs: int) -> None:
    """Per model: fit, then clear_session as automl does; three phases of `models` models."""
    import keras
    import mlflow  # noqa: F401 - a worker has MLflow and Optuna loaded: part of what gc walks
    import optuna  # noqa: F401

    from automl.train.objective import trial_seed

    data = workload.load(0)
    configs = workload.random_configs(3 * models + 1, seed=1)
    libc = ctypes.CDLL("libc.so.6")
    # A first model warms TensorFlow's caches up, so no phase pays for that.
    workload.fit(workload.hyperparameters(configs[-1]), data, epochs, 0, as_automl=True)
    keras.backend.clear_session()
    print("| phase | clear_session s (median) | RSS growth per model MB |")
    print("| --- | --- | --- |")
    phases = ("as automl does now", "after gc.freeze()", "gc.freeze() + malloc_trim(0)")
    for phase, name in enumerate(phases):
        if phase == 1:
            gc.collect()
            gc.freeze()
        costs, start = [], rss_mb()
        for i in range(models):
            n = phase * models + i
            hp = workload.hyperparameters(configs[n])
            workload.fit(hp, data, epochs, trial_seed(0, n), as_automl=True)
            t0 = time.perf_counter()
            keras.backend.clear_session()
            costs.append(time.perf_counter() - t0)
            if phase == 2:
                libc.malloc_trim(0)
        growth = (rss_mb() - start) / models
        print(f"| {name} | {statistics.median(costs):.3f} | {growth:.1f} |")
    gc.unfreeze()


def steps_per_execution(models: int, epochs: int) -> None:
    """fit seconds per epoch at 1 and STEPS steps per call; same seeds, same curves?"""
    import keras

    from automl.data.pipeline import pipelines
    from automl.train.objective import trial_seed

    data = workload.load(0)
    print(f"| steps per execution | fit s per epoch (median of {models} models) | same curves |")
    print("| --- | --- | --- |")
    curves: dict[int, list[list[float]]] = {}
    for steps in (1, STEPS):
        per_epoch = []
        curves[steps] = []
        for n, config in enumerate(workload.random_configs(models, seed=2)):
            hp = workload.hyperparameters(config)
            seed = trial_seed(0, n)
            keras.backend.clear_session(free_memory=False)
            keras.utils.set_random_seed(seed)
            model = workload.build(hp, data, as_automl=True)
            model.compile(
                optimizer=model.optimizer,
                loss=model.loss,
                metrics=["accuracy"],
                steps_per_execution=steps,
            )
            train, val = pipelines(data.dataset, hp.batch_size, seed)
            t0 = time.perf_counter()
            history = model.fit(train, validation_data=val, epochs=epochs, verbose=0)
            per_epoch.append((time.perf_counter() - t0) / epochs)
            curves[steps].append([round(v, 4) for v in history.history["val_accuracy"]])
        same = "-" if steps == 1 else str(curves[steps] == curves[1])
        print(f"| {steps} | {statistics.median(per_epoch):.3f} | {same} |")


def epoch_timer() -> tuple[Any, list[float]]:
    """A Keras callback and the list it fills with each epoch's seconds (validation included)."""
    import keras

    seconds: list[float] = []

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            self.t0 = time.perf_counter()

        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            seconds.append(time.perf_counter() - self.t0)

    return Timer(), seconds


def fused_adam(models: int, epochs: int) -> None:
    """automl's fused Adam update against Keras's own: the same models, seeds and pipelines,
    the two taking turns model by model (which goes first alternates)."""
    import keras

    from automl.data.pipeline import pipelines
    from automl.train.model import build_training_state
    from automl.train.objective import trial_seed

    data = workload.load(0)
    firsts: dict[bool, list[float]] = {True: [], False: []}
    laters: dict[bool, list[float]] = {True: [], False: []}
    finals: dict[bool, list[float]] = {True: [], False: []}
    configs = workload.random_configs(models + 1, seed=2)
    for n, config in enumerate(configs):
        hp = workload.hyperparameters(config)
        seed = trial_seed(0, n)
        for fused in (n % 2 == 0, n % 2 == 1):
            keras.backend.clear_session(free_memory=False)
            keras.utils.set_random_seed(seed)
            model = workload.build(hp, data, as_automl=fused)
            build_training_state(model, data.x_train[:2], data.y_train[:2])
            train, val = pipelines(data.dataset, hp.batch_size, seed)
            timer, seconds = epoch_timer()
            history = model.fit(
                train,
                validation_data=val,
                epochs=epochs,
                callbacks=[timer],
                shuffle=False,  # the pipeline shuffles
                verbose=0,
            )
            if n == 0:
                continue  # the first model warms TensorFlow up
            firsts[fused].append(seconds[0])
            laters[fused].append(statistics.median(seconds[1:]))
            finals[fused].append(history.history["val_accuracy"][-1])
    same = sum(a == b for a, b in zip(finals[True], finals[False], strict=True))
    print(f"| Adam update | first epoch s | later epoch s | (median of {models} models) |")
    print("| --- | --- | --- | --- |")
    for fused, name in ((False, "Keras's own"), (True, "fused (automl)")):
        first, later = statistics.median(firsts[fused]), statistics.median(laters[fused])
        print(f"| {name} | {first:.3f} | {later:.3f} | |")
    ratio_first = statistics.median(firsts[True]) / statistics.median(firsts[False])
    ratio_later = statistics.median(laters[True]) / statistics.median(laters[False])
    print(f"| fused / Keras's | {ratio_first:.2f} | {ratio_later:.2f} | |")
    print(f"\nthe same final validation accuracy in {same} of {models} models")


def best_epoch_copy(models: int) -> None:
    """What keeping a trial's best epoch costs: one copy of the weights per improvement."""
    import keras

    data = workload.load(0)
    costs = []
    for config in workload.random_configs(models, seed=2):
        keras.backend.clear_session(free_memory=False)
        model = workload.build(workload.hyperparameters(config), data, as_automl=True)
        t0 = time.perf_counter()
        model.get_weights()
        costs.append(time.perf_counter() - t0)
    print(
        f"copy of a model's weights (restore_best_weights, per improving epoch): median "
        f"{statistics.median(costs) * 1000:.1f} ms, most {max(costs) * 1000:.1f} ms "
        f"over {models} models"
    )


def autotune(models: int, epochs: int) -> None:
    """Later-epoch seconds with tf.data's autotuner on and off, one process alone and two side
    by side, each fitting the same models with one TensorFlow thread (a `--workers 2` worker)."""
    context = multiprocessing.get_context("spawn")  # TensorFlow's threads are set per process
    print("| tf.data autotune | alone: later epochs s | side by side: later epochs s | × alone |")
    print("| --- | --- | --- | --- |")
    for enabled in (True, False):
        runs = {}
        for count in (1, 2):
            with context.Pool(count) as pool:
                runs[count] = pool.starmap(_later_epochs, [(enabled, models, epochs)] * count)
        pair = ", ".join(f"{s:.2f}" for s in runs[2])
        ratio = statistics.mean(runs[2]) / runs[1][0]
        name = "on (TensorFlow's default)" if enabled else "off (automl)"
        print(f"| {name} | {runs[1][0]:.2f} | {pair} | {ratio:.2f} |")


def _later_epochs(enabled: bool, models: int, epochs: int) -> float:
    """In a fresh process with one TensorFlow thread: the seconds of every epoch but the first
    (which traces) of `models` models fitted on automl's pipelines, autotune `enabled` or not."""
    from automl.backend import load_keras

    load_keras()
    import keras
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    from automl.data.pipeline import pipelines
    from automl.train.model import build_training_state
    from automl.train.objective import trial_seed

    options = tf.data.Options()
    options.autotune.enabled = enabled  # overrides what automl's pipelines set
    data = workload.load(0)
    total = 0.0
    for n, config in enumerate(workload.random_configs(models, seed=2)):
        hp = workload.hyperparameters(config)
        keras.backend.clear_session(free_memory=False)
        keras.utils.set_random_seed(trial_seed(0, n))
        model = workload.build(hp, data, as_automl=True)
        build_training_state(model, data.x_train[:2], data.y_train[:2])
        train, val = pipelines(data.dataset, hp.batch_size, trial_seed(0, n))
        timer, seconds = epoch_timer()
        model.fit(
            train.with_options(options),
            validation_data=val.with_options(options),
            epochs=epochs,
            callbacks=[timer],
            shuffle=False,
            verbose=0,
        )
        total += sum(seconds[1:])
    return total


def mlflow_per_trial(trials: int, epochs: int) -> None:
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
        f"MLflow writes per trial ({epochs} epochs of 4 metrics, SQLite): "
        f"median {statistics.median(costs):.3f} s over {trials} trials"
    )


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


def startup() -> None:
    print("| a fresh interpreter doing | seconds |")
    print("| --- | --- |")
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
            print(f"| {name} | {time.perf_counter() - t0:.2f} |")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--only", nargs="+", choices=PARTS, help="run these parts alone")
    args = parser.parse_args(argv)
    print(describe(), "\n")
    parts: dict[str, Callable[[], None]] = {
        "startup": startup,
        "mlflow": lambda: mlflow_per_trial(20, args.epochs),
        "clear_session": lambda: clear_session_cost(args.models, args.epochs),
        "steps_per_execution": lambda: steps_per_execution(args.models, args.epochs),
        "fused_adam": lambda: fused_adam(args.models, args.epochs),
        "best_epoch": lambda: best_epoch_copy(args.models),
        "autotune": lambda: autotune(args.models, args.epochs),
    }
    for name in args.only or PARTS:
        parts[name]()
        print()


if __name__ == "__main__":
    main()
