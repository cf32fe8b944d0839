"""The arms of `compare`: each runs one tool on one seed's data and returns its record.

Every arm scores a trial by its best epoch (automl's `restore_best_weights`, KerasTuner's
score, the script's `EarlyStopping(restore_best_weights=True)`), tests the model of that epoch
on the same held-out images, and reports its pruning steps as epochs 1, 2, ... (the script's
callback reports epoch e as step e, as automl does: optuna-integration's
`KerasPruningCallback` reports it as e - 1, which moves Hyperband's rungs one epoch later).
`seconds` counts from the arm's process start: imports and data loading included.
"""

from __future__ import annotations

import functools
import itertools
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.compare import keras_tuner
from benchmarks.compare.record import curve, since_process_start
from benchmarks.harness import workload
from benchmarks.harness.workload import BOOLEAN, SPACE, Data, searched_bounds, searched_name

ARMS = (
    "automl",
    "automl-sha",
    "automl-2w",
    "automl-2w-sha",
    "optuna",
    "kt-hyperband",
    "kt-random",
    "grid",
)
# The default; kt-random and grid take longer. -2w: `--workers 2`, as a user of a 2-core machine
# would run it (the other tools run one trial at a time); -sha: successive halving instead of
# Hyperband (the same rungs at 1, 3, 9 epochs, its most aggressive bracket alone).
CORE = ("automl", "automl-sha", "automl-2w", "automl-2w-sha", "optuna", "kt-hyperband")
AUTOML_ARMS = tuple(arm for arm in ARMS if arm.startswith("automl"))
SHA = {"name": "sha", "min_resource": 1, "reduction_factor": 3}
# The lesson's grid: 3 learning rates x 2 β1 x 2 depths x BN on/off = 24 cells of EPOCHS epochs.
GRID: dict[str, list[Any]] = {
    "learning_rate": [1e-3, 1e-2, 1e-1],
    "beta_1": [0.8, 0.9],
    "depth": [1, 3],
    "batch_norm": [True, False],
}
GRID_FIXED: dict[str, Any] = {"width": 32, "l2": 1e-4}


# --- the arms: each returns its record; `seconds` counts from this process's start -----------


def arm_automl(
    seed: int,
    data: Data,
    trials: int,
    epochs: int,
    workers: int = 1,
    pruner: dict[str, Any] | None = None,
) -> dict[str, Any]:
    from benchmarks.harness.automl_cli import end_time, gaps, run_automl, start_time

    spec = automl_study(seed, data, trials, epochs, pruner)
    with tempfile.TemporaryDirectory(prefix="bench-automl-") as folder:
        run = run_automl(spec, Path(folder), workers=workers)
    done = sorted(run.trials, key=end_time)
    best = max(run.complete(), key=lambda t: t.value or 0.0)
    retrained_val, test = retrain(
        best.user_attrs["hyperparameters"], best.user_attrs["seed"], data, epochs
    )
    return {
        "seconds": run.seconds,
        "best_val": best.value,
        "test_acc": test,
        "retrained_val": retrained_val,
        "epochs": run.epochs(),
        "trials": len(run.trials),
        # automl retires a worker whose memory grew too much; its successor starts afresh.
        "worker_processes": len({t.user_attrs.get("worker", {}).get("pid") for t in run.trials}),
        # With one worker, the gaps where a fresh worker took over.
        "restart_seconds": sum(gaps(run)[1]) if workers == 1 else None,
        # Where a slow run lost its time: before the first trial (MLflow's store, the workers'
        # start) or after the last one (the best model scored and registered, the exit).
        "startup_seconds": min(start_time(t) for t in run.trials) - run.started,
        "shutdown_seconds": run.started + run.seconds - max(end_time(t) for t in run.trials),
        "curve": curve(
            [
                (
                    len(t.intermediate_values),
                    t.value if t.state.name == "COMPLETE" else None,
                    end_time(t) - run.started,
                )
                for t in done
            ]
        ),
    }


def automl_study(
    seed: int, data: Data, trials: int, epochs: int, pruner: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The study file automl's arm runs: on `data`'s images, with the arm's budget and pruner."""
    spec = workload.study_file(
        f"bench-{seed}", seed, dataset=data.spec, trials=trials, epochs=epochs
    )
    if pruner is not None:
        spec["pruner"] = pruner
    return spec


def retrain(values: dict[str, Any], seed: int, data: Data, epochs: int) -> tuple[float, float]:
    """automl's best trial trained again as automl trains it: its seed, its tf.data pipelines,
    its fused Adam, its best epoch."""
    from automl.search.space import Hyperparameters

    fitted = workload.fit(Hyperparameters.from_dict(values), data, epochs, seed, as_automl=True)
    # The model holds its best epoch's weights, as automl's trial kept them.
    return max(fitted.val_accuracy), workload.test_accuracy(fitted.model, data)


def arm_optuna(seed: int, data: Data, trials: int, epochs: int) -> dict[str, Any]:
    """The script a competent user writes: TPE, Hyperband, a pruning callback, `model.fit`."""
    import keras
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    scoring = 0.0

    class Pruning(keras.callbacks.Callback):
        """Reports epoch e (1-based) as step e, then prunes if the pruner says so."""

        def __init__(self, trial: optuna.Trial) -> None:
            super().__init__()
            self.trial = trial

        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            self.trial.report(float((logs or {})["val_accuracy"]), epoch + 1)
            if self.trial.should_prune():
                raise optuna.TrialPruned(f"pruned at epoch {epoch + 1}")

    def objective(trial: optuna.Trial) -> float:
        nonlocal scoring
        values = suggest(trial)
        fitted = workload.fit(
            workload.hyperparameters(values),
            data,
            epochs,
            seed * 1_000_003 + trial.number,
            callbacks=[best_epoch(epochs), Pruning(trial)],
        )
        t0 = time.perf_counter()  # the benchmark's own scoring, taken off the clock
        trial.set_user_attr("test_acc", workload.test_accuracy(fitted.model, data))
        scoring += time.perf_counter() - t0
        return max(fitted.val_accuracy)

    study = optuna.create_study(
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=optuna.pruners.HyperbandPruner(
            min_resource=1, max_resource=epochs, reduction_factor=3
        ),
    )
    ended: dict[int, float] = {}  # trial number -> the arm's clock as the trial ended

    def clock(_: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        ended[trial.number] = since_process_start() - scoring

    study.optimize(objective, n_trials=trials, callbacks=[clock])
    seconds = since_process_start() - scoring
    done = study.get_trials(deepcopy=False)
    return {
        "seconds": seconds,
        "best_val": study.best_value,
        "test_acc": study.best_trial.user_attrs["test_acc"],
        "epochs": sum(len(t.intermediate_values) for t in done),
        "trials": len(done),
        "curve": curve(
            [
                (
                    len(t.intermediate_values),
                    t.value if t.state.name == "COMPLETE" else None,
                    ended[t.number],
                )
                for t in done
            ]
        ),
    }


def suggest(trial: Any) -> dict[str, Any]:
    """The shared space asked of an Optuna trial, under the searched names."""
    values: dict[str, Any] = {}
    for d in SPACE:
        low, high = searched_bounds(d)
        name = searched_name(d)
        if d.integer:
            values[name] = trial.suggest_int(name, int(low), int(high), log=d.log)
        else:
            values[name] = trial.suggest_float(name, low, high, log=d.log)
    for b in BOOLEAN:
        values[b] = trial.suggest_categorical(b, [True, False])
    return values


def best_epoch(epochs: int) -> Any:
    """Keras's own way to keep a fit's best epoch: it never stops, and puts back those weights."""
    import keras

    return keras.callbacks.EarlyStopping(
        "val_accuracy", mode="max", patience=epochs, restore_best_weights=True
    )


def grid_cells() -> list[dict[str, Any]]:
    names = list(GRID)
    return [
        {**GRID_FIXED, **dict(zip(names, combo, strict=True))}
        for combo in itertools.product(*GRID.values())
    ]


def arm_grid(seed: int, data: Data, trials: int, epochs: int) -> dict[str, Any]:
    from automl.search.space import Hyperparameters

    scoring, runs, best, test = 0.0, [], float("-inf"), float("nan")
    for index, cell in enumerate(grid_cells()):
        fitted = workload.fit(
            Hyperparameters.from_dict(cell),
            data,
            epochs,
            seed * 1_000_003 + index,
            callbacks=[best_epoch(epochs)],
        )
        val = max(fitted.val_accuracy)
        runs.append((len(fitted.val_accuracy), val, since_process_start() - scoring))
        if val > best:
            t0 = time.perf_counter()
            best, test = val, workload.test_accuracy(fitted.model, data)
            scoring += time.perf_counter() - t0
    seconds = since_process_start() - scoring
    return {
        "seconds": seconds,
        "best_val": best,
        "test_acc": test,
        "epochs": sum(n for n, _, _ in runs),
        "trials": len(runs),
        "curve": curve(runs),
    }


RUNNERS: dict[str, Callable[[int, Data, int, int], dict[str, Any]]] = {
    "automl": arm_automl,
    "automl-sha": functools.partial(arm_automl, pruner=SHA),
    "automl-2w": functools.partial(arm_automl, workers=2),
    "automl-2w-sha": functools.partial(arm_automl, workers=2, pruner=SHA),
    "optuna": arm_optuna,
    "kt-hyperband": keras_tuner.arm("kt-hyperband"),
    "kt-random": keras_tuner.arm("kt-random"),
    "grid": arm_grid,
}
