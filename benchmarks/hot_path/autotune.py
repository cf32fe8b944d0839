"""tf.data's autotuner on (TensorFlow's default) and off (automl's pipelines), in processes with
one TensorFlow thread each, as `--workers 2` runs them: one alone, and two side by side."""

from __future__ import annotations

import multiprocessing
import statistics
from typing import Any

from benchmarks.harness import workload
from benchmarks.hot_path.training import epoch_timer


def autotune(models: int, epochs: int) -> dict[str, Any]:
    """Later-epoch seconds with the autotuner on and off, one process alone and two side by
    side, each fitting the same models."""
    context = multiprocessing.get_context("spawn")  # TensorFlow's threads are set per process
    print("| tf.data autotune | alone: later epochs s | side by side: later epochs s | × alone |")
    print("| --- | --- | --- | --- |")
    result = {}
    for enabled in (True, False):
        runs = {}
        for count in (1, 2):
            with context.Pool(count) as pool:
                runs[count] = pool.starmap(later_epochs, [(enabled, models, epochs)] * count)
        pair = ", ".join(f"{s:.2f}" for s in runs[2])
        ratio = statistics.mean(runs[2]) / runs[1][0]
        name = "on (TensorFlow's default)" if enabled else "off (automl)"
        print(f"| {name} | {runs[1][0]:.2f} | {pair} | {ratio:.2f} |")
        result[name] = {"alone_s": runs[1], "side_by_side_s": runs[2]}
    return result


def later_epochs(enabled: bool, models: int, epochs: int) -> float:
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
