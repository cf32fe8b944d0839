"""Changes inside `model.fit`: steps per execution, automl's fused Adam update against Keras's,
and the weight copy that keeping a trial's best epoch costs."""

from __future__ import annotations

import statistics
import time
from typing import Any

from benchmarks.harness import stats, workload

STEPS = 16


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


def steps_per_execution(models: int, epochs: int) -> dict[str, Any]:
    """fit seconds per epoch at 1 and STEPS steps per call; same seeds, same curves?"""
    import keras

    from automl.data.pipeline import pipelines
    from automl.train.objective import trial_seed

    data = workload.load(0)
    print(f"| steps per execution | fit s per epoch ({models} models) | same curves |")
    print("| --- | --- | --- |")
    curves: dict[int, list[list[float]]] = {}
    result = {}
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
        print(f"| {steps} | {stats.spread(per_epoch, '.3f')} | {same} |")
        result[str(steps)] = {"fit_s_per_epoch": per_epoch, "val_accuracy": curves[steps]}
    return result


def _fit_timed(fused: bool, config: dict[str, Any], n: int, data: Any, epochs: int) -> Any:
    """One model fitted with the fused or Keras's Adam: its epoch seconds and final accuracy."""
    import keras

    from automl.data.pipeline import pipelines
    from automl.train.model import build_training_state
    from automl.train.objective import trial_seed

    hp = workload.hyperparameters(config)
    seed = trial_seed(0, n)
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
    return seconds, history.history["val_accuracy"][-1]


def fused_adam(models: int, epochs: int) -> dict[str, Any]:
    """automl's fused Adam update against Keras's own: the same models, seeds and pipelines,
    the two taking turns model by model (which goes first alternates)."""
    data = workload.load(0)
    runs: dict[bool, dict[str, list[float]]] = {
        fused: {"first_epoch_s": [], "later_epoch_s": [], "final_val_accuracy": []}
        for fused in (True, False)
    }
    for n, config in enumerate(workload.random_configs(models + 1, seed=2)):
        for fused in (n % 2 == 0, n % 2 == 1):
            seconds, final = _fit_timed(fused, config, n, data, epochs)
            if n == 0:
                continue  # the first model warms TensorFlow up
            runs[fused]["first_epoch_s"].append(seconds[0])
            runs[fused]["later_epoch_s"].append(statistics.median(seconds[1:]))
            runs[fused]["final_val_accuracy"].append(final)
    finals = (runs[True]["final_val_accuracy"], runs[False]["final_val_accuracy"])
    same = sum(a == b for a, b in zip(*finals, strict=True))
    print(f"| Adam update | first epoch s ({models} models) | later epoch s |")
    print("| --- | --- | --- |")
    for fused, name in ((False, "Keras's own"), (True, "fused (automl)")):
        first, later = runs[fused]["first_epoch_s"], runs[fused]["later_epoch_s"]
        print(f"| {name} | {stats.spread(first, '.3f')} | {stats.spread(later, '.3f')} |")
    ratios = [
        stats.median(runs[True][k]) / stats.median(runs[False][k])
        for k in ("first_epoch_s", "later_epoch_s")
    ]
    print(f"| fused / Keras's (of the medians) | {ratios[0]:.2f} | {ratios[1]:.2f} |")
    print(f"\nthe same final validation accuracy in {same} of {models} models")
    return {"fused": runs[True], "keras": runs[False]}


def best_epoch_copy(models: int) -> dict[str, Any]:
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
        "copy of a model's weights (restore_best_weights, per improving epoch), ms over "
        f"{models} models: {stats.spread([c * 1000 for c in costs], '.1f')}"
    )
    return {"seconds": costs}
