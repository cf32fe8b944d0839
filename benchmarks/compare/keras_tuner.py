"""KerasTuner's arms of `compare`: Hyperband and random search over the same space and model.

KerasTuner scores a trial by its best epoch and keeps that epoch's model (its own checkpoints).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from typing import Any

from benchmarks.compare.record import curve, since_process_start
from benchmarks.harness import workload
from benchmarks.harness.workload import BOOLEAN, SPACE, Data, searched_bounds, searched_name


def arm(kind: str) -> Callable[[int, Data, int, int], dict[str, Any]]:
    def arm(seed: int, data: Data, trials: int, epochs: int) -> dict[str, Any]:
        import keras
        import keras_tuner as kt

        fits: list[int] = []  # epochs trained by each fit KerasTuner made, in order
        ended: list[float] = []  # the arm's clock as each fit ended

        class Counter(keras.callbacks.Callback):
            def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
                fits.append(0)

            def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
                fits[-1] += 1

            def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
                ended.append(since_process_start())

        class CNN(kt.HyperModel):
            def build(self, hp: kt.HyperParameters) -> keras.Model:
                values: dict[str, Any] = {}
                for d in SPACE:
                    low, high = searched_bounds(d)
                    sampling = "log" if d.log else "linear"
                    name = searched_name(d)
                    if d.integer:
                        values[name] = hp.Int(name, int(low), int(high), sampling=sampling)
                    else:
                        values[name] = hp.Float(name, low, high, sampling=sampling)
                for b in BOOLEAN:
                    values[b] = hp.Boolean(b)
                return workload.build(workload.hyperparameters(values), data)

            def fit(
                self, hp: kt.HyperParameters, model: keras.Model, *args: Any, **kwargs: Any
            ) -> Any:
                kwargs["callbacks"] = [*kwargs.get("callbacks", []), Counter()]
                return model.fit(*args, **kwargs)

        with tempfile.TemporaryDirectory(prefix="bench-kt-") as folder:
            common = {
                "objective": "val_accuracy",
                "seed": seed,
                "directory": folder,
                "project_name": kind,
                "overwrite": True,
            }
            if kind == "kt-hyperband":
                tuner: kt.Tuner = kt.Hyperband(
                    CNN(), max_epochs=epochs, factor=3, hyperband_iterations=1, **common
                )
            else:
                tuner = kt.RandomSearch(CNN(), max_trials=trials, **common)
            tuner.search(
                data.x_train,
                data.y_train,
                validation_data=(data.x_val, data.y_val),
                batch_size=workload.BATCH_SIZE,
                epochs=epochs,
                verbose=0,
            )
            seconds = since_process_start()
            ran = list(tuner.oracle.trials.values())
            best = tuner.oracle.get_best_trials(1)[0]
            test = workload.test_accuracy(tuner.get_best_models(1)[0], data)
        return {
            "seconds": seconds,
            "best_val": best.score,  # KerasTuner scores a trial by its best epoch
            "test_acc": test,
            "epochs": sum(fits),
            "trials": len(ran),
            "curve": curve([(n, t.score, e) for n, t, e in zip(fits, ran, ended, strict=False)]),
        }

    return arm
