"""What `keras.backend.clear_session()` costs per trial, and the RSS each model leaves behind,
as automl calls it, after `gc.freeze()`, and with glibc's `malloc_trim` on top."""

from __future__ import annotations

import ctypes
import gc
import time
from typing import Any

from benchmarks.harness import stats, workload


def rss_mb() -> float:
    import psutil

    return float(psutil.Process().memory_info().rss / 2**20)


PHASES = ("as automl does now", "after gc.freeze()", "gc.freeze() + malloc_trim(0)")


def clear_session_cost(models: int, epochs: int) -> dict[str, Any]:
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
    print("| phase | clear_session s | RSS growth per model MB |")
    print("| --- | --- | --- |")
    result = {}
    for phase, name in enumerate(PHASES):
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
        print(f"| {name} | {stats.spread(costs, '.3f')} | {growth:.1f} |")
        result[name] = {"clear_session_s": costs, "rss_growth_per_model_mb": growth}
    gc.unfreeze()
    return result
