"""Time to quality: automl against a hand-written Optuna script, KerasTuner and the lesson's grid.

Every arm searches the same space (workload.SPACE) on the same split of the same data set for a
seed, for at most EPOCHS epochs a trial, and runs in a fresh process so each pays its own
interpreter start and imports, as a user does. Per arm and seed it records the data set, the best
validation accuracy, the test accuracy of the best model, wall-clock seconds, epochs trained and
trials run, as a JSON file in the results folder; `--table` turns a folder of those into the
tables of RESULTS.md, one set of tables per data set.

The data set is scikit-learn's digits unless `--dataset` names a Keras one (mnist,
fashion_mnist, cifar10, cifar100) whose files are in the Keras cache (nothing is downloaded):
the arms then train on automl's split of its training images (a stratified `--max-samples`
subset of them, or all) and are tested on its own test split.

    python -m benchmarks.compare                     # automl, optuna, kt-hyperband; seeds 0 1 2
    python -m benchmarks.compare --arms kt-random grid   # the two long arms, seeds 0 1 2
    python -m benchmarks.compare --dataset fashion_mnist --max-samples 6000
    python -m benchmarks.compare --table

Arms:
  automl        `automl run` (TPE + Hyperband, MLflow tracking on), timed as a whole command;
                the best model is retrained from its trial's hyperparameters and seed to score
                it on the benchmark's test images, off the clock (the model automl keeps is
                in a temporary MLflow store gone with the arm's folder).
  optuna        a hand-written script: TPE + HyperbandPruner + optuna_integration's
                KerasPruningCallback, one process, in-memory storage, no tracking.
  kt-hyperband  KerasTuner Hyperband (max_epochs EPOCHS, factor 3, one iteration).
  kt-random     KerasTuner RandomSearch, TRIALS trials of EPOCHS epochs.
  grid          the lesson's exhaustive grid (GRID below), every cell EPOCHS epochs, no pruning.
"""

from __future__ import annotations

import argparse
import functools
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from automl.errors import DataError
from automl.spec.schema import DatasetSpec
from benchmarks import workload
from benchmarks.workload import BOOLEAN, SPACE, Data, searched_bounds, searched_name

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
RESULTS = Path(__file__).parent / "results" / "compare"
# The lesson's grid: 3 learning rates x 2 β1 x 2 depths x BN on/off = 24 cells of EPOCHS epochs.
GRID: dict[str, list[Any]] = {
    "learning_rate": [1e-3, 1e-2, 1e-1],
    "beta_1": [0.8, 0.9],
    "depth": [1, 3],
    "batch_norm": [True, False],
}
GRID_FIXED: dict[str, Any] = {"width": 32, "l2": 1e-4}


def since_process_start() -> float:
    """Seconds since this interpreter started: a hand-written script pays its imports too."""
    import psutil

    return time.time() - psutil.Process().create_time()


def curve(runs: Sequence[tuple[int, float | None]]) -> list[tuple[int, float]]:
    """(epochs trained so far, best value so far) after each trial, in the order they ran."""
    points, epochs, best = [], 0, float("-inf")
    for trial_epochs, value in runs:
        epochs += trial_epochs
        if value is not None:
            best = max(best, value)
        points.append((epochs, best))
    return points


# --- the arms: each returns its record; `seconds` counts from this process's start -----------


def arm_automl(
    seed: int,
    data: Data,
    trials: int,
    epochs: int,
    workers: int = 1,
    pruner: dict[str, Any] | None = None,
) -> dict[str, Any]:
    from benchmarks.automl_cli import end_time, gaps, run_automl, start_time

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
                (len(t.intermediate_values), t.value if t.state.name == "COMPLETE" else None)
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
    import optuna
    from optuna_integration import KerasPruningCallback

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    scoring = 0.0

    def objective(trial: optuna.Trial) -> float:
        nonlocal scoring
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
        fitted = workload.fit(
            workload.hyperparameters(values),
            data,
            epochs,
            seed * 1_000_003 + trial.number,
            callbacks=[KerasPruningCallback(trial, "val_accuracy")],
        )
        t0 = time.perf_counter()  # the benchmark's own scoring, taken off the clock
        trial.set_user_attr("test_acc", workload.test_accuracy(fitted.model, data))
        scoring += time.perf_counter() - t0
        return fitted.val_accuracy[-1]

    study = optuna.create_study(
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=optuna.pruners.HyperbandPruner(
            min_resource=1, max_resource=epochs, reduction_factor=3
        ),
    )
    study.optimize(objective, n_trials=trials)
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
                (len(t.intermediate_values), t.value if t.state.name == "COMPLETE" else None)
                for t in done
            ]
        ),
    }


def arm_keras_tuner(kind: str) -> Callable[[int, Data, int, int], dict[str, Any]]:
    def arm(seed: int, data: Data, trials: int, epochs: int) -> dict[str, Any]:
        import keras
        import keras_tuner as kt

        fits: list[int] = []  # epochs trained by each fit KerasTuner made, in order

        class Counter(keras.callbacks.Callback):
            def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
                fits.append(0)

            def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
                fits[-1] += 1

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
            "curve": curve([(n, t.score) for n, t in zip(fits, ran, strict=False)]),
        }

    return arm


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
            Hyperparameters.from_dict(cell), data, epochs, seed * 1_000_003 + index
        )
        val = fitted.val_accuracy[-1]
        runs.append((len(fitted.val_accuracy), val))
        if val > best:
            t0 = time.perf_counter()
            best, test = val, workload.test_accuracy(fitted.model, data)
            scoring += time.perf_counter() - t0
    seconds = since_process_start() - scoring
    return {
        "seconds": seconds,
        "best_val": best,
        "test_acc": test,
        "epochs": sum(n for n, _ in runs),
        "trials": len(runs),
        "curve": curve(runs),
    }


RUNNERS: dict[str, Callable[[int, Data, int, int], dict[str, Any]]] = {
    "automl": arm_automl,
    "automl-sha": functools.partial(arm_automl, pruner=SHA),
    "automl-2w": functools.partial(arm_automl, workers=2),
    "automl-2w-sha": functools.partial(arm_automl, workers=2, pruner=SHA),
    "optuna": arm_optuna,
    "kt-hyperband": arm_keras_tuner("kt-hyperband"),
    "kt-random": arm_keras_tuner("kt-random"),
    "grid": arm_grid,
}


def run_one(arm: str, seed: int, trials: int, epochs: int, out: Path, dataset: DatasetSpec) -> None:
    """Run one arm in this (fresh) process and write its record."""
    record = RUNNERS[arm](seed, workload.load(seed, dataset), trials, epochs)
    record.update(
        arm=arm,
        seed=seed,
        dataset=dataset.name,
        max_samples=dataset.max_samples,
        max_trials=trials,
        max_epochs=epochs,
        # The load average over the last minute: how busy the machine was as this arm finished.
        load=os.getloadavg()[0],
    )
    out.write_text(json.dumps(record, indent=1), encoding="utf-8")


def record_path(folder: Path, arm: str, seed: int, dataset: DatasetSpec) -> Path:
    # Digits keeps the names its records always had; another data set's records carry it in
    # theirs, so a run on one never overwrites another's in the same folder.
    tag = "" if dataset.name == "digits" else f"{dataset.name}-{dataset.max_samples or 'all'}-"
    return folder / f"{tag}{arm}-seed{seed}.json"


# --- the tables ---------------------------------------------------------------------------


def epochs_to_reach(points: list[list[float]], target: float) -> int | None:
    for epochs, best in points:
        if best >= target - 1e-9:
            return int(epochs)
    return None


def table(folder: Path) -> str:
    """The tables of every data set in the folder, one data set after another."""
    records = [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]
    if not records:
        return f"no results in {folder}"
    by_dataset: dict[tuple[str, int | None], list[dict[str, Any]]] = {}
    for r in records:
        # Records written before --dataset existed ran on digits.
        key = (r.get("dataset", "digits"), r.get("max_samples", workload.KEEP))
        by_dataset.setdefault(key, []).append(r)
    return "\n\n".join(
        f"Data set: {name}, "
        + (f"max_samples {n}" if n is not None else "all training images")
        + f"\n\n{_dataset_table(by_dataset[name, n])}"
        for name, n in sorted(by_dataset, key=lambda k: (k[0], k[1] or 0))
    )


def _dataset_table(records: list[dict[str, Any]]) -> str:
    from benchmarks.workload import median

    by_arm: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        by_arm.setdefault(r["arm"], []).append(r)
    ref = by_arm.get("kt-hyperband")
    ref_s = median([r["seconds"] for r in ref]) if ref else float("nan")
    ref_spe = median([r["seconds"] / r["epochs"] for r in ref]) if ref else float("nan")
    lines = [
        "| arm | seeds | wall s | × KT Hyperband | s / epoch | × KT | epochs | trials "
        "| best val acc | test acc | load |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for arm in sorted(by_arm, key=lambda a: ARMS.index(a) if a in ARMS else len(ARMS)):
        rs = by_arm[arm]
        s = median([r["seconds"] for r in rs])
        spe = median([r["seconds"] / r["epochs"] for r in rs])
        lines.append(
            f"| {arm} | {','.join(str(r['seed']) for r in rs)} | {s:.1f} | {s / ref_s:.2f} "
            f"| {spe:.3f} | {spe / ref_spe:.2f} | {median([r['epochs'] for r in rs]):.0f} "
            f"| {median([r['trials'] for r in rs]):.0f} "
            f"| {median([r['best_val'] for r in rs]):.4f} "
            f"| {median([r['test_acc'] for r in rs]):.4f} "
            f"| {median([r.get('load', float('nan')) for r in rs]):.1f} |"
        )
    lines += [
        "",
        "Medians over the seeds; load: the 1-minute load average as the arm ended "
        f"({os.cpu_count()} cores). KerasTuner and automl (`restore_best_weights`, on by "
        "default) score a trial by its best epoch, the Optuna script "
        "and the grid by the last.",
        "",
        _grid_match(by_arm),
    ]
    restarts = [
        r
        for arm in AUTOML_ARMS
        for r in by_arm.get(arm, [])
        if r.get("restart_seconds") is not None
    ]
    if restarts:
        lines += [
            "",
            "automl's worker processes (each after the first replaced a retired one) and the "
            "seconds spent waiting for them: "
            + ", ".join(
                f"{r['arm']} seed {r['seed']}: {r['worker_processes']}, "
                f"{r['restart_seconds']:.1f} s"
                for r in restarts
            ),
        ]
    retrained = [r for arm in AUTOML_ARMS for r in by_arm.get(arm, []) if "retrained_val" in r]
    if retrained:
        lines += [
            "",
            "automl's best trial retrained for the test score (val acc in the study -> "
            "retrained): "
            + ", ".join(
                f"{r['arm']} seed {r['seed']}: {r['best_val']:.4f} -> {r['retrained_val']:.4f}"
                for r in retrained
            ),
        ]
    return "\n".join(lines)


def _grid_match(by_arm: dict[str, list[dict[str, Any]]]) -> str:
    """Epochs each search needed to reach the grid's best validation accuracy (same seed)."""
    grids = {r["seed"]: r for r in by_arm.get("grid", [])}
    if not grids:
        return "(no grid results: no grid comparison)"
    lines = [
        "| arm | seed | grid best val | grid epochs | epochs to reach it | share of grid's |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for arm in (a for a in ARMS if a != "grid"):
        for r in by_arm.get(arm, []):
            g = grids.get(r["seed"])
            if g is None:
                continue
            reached = epochs_to_reach(r["curve"], g["best_val"])
            share = f"{reached / g['epochs']:.2f}" if reached is not None else "not reached"
            lines.append(
                f"| {arm} | {r['seed']} | {g['best_val']:.4f} | {g['epochs']} "
                f"| {reached if reached is not None else '-'} | {share} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--arms", nargs="+", choices=ARMS, default=list(CORE))
    parser.add_argument(
        "--dataset",
        choices=workload.DATASETS,
        default="digits",
        help=f"digits (default: {workload.KEEP} images to search on, the other "
        f"{workload.DIGITS_TOTAL - workload.KEEP} to test), or a Keras data set from the Keras "
        "cache ($KERAS_HOME/datasets, else ~/.keras/datasets), tested on its own test split; "
        "nothing is downloaded",
    )
    parser.add_argument(
        "--max-samples",
        type=int,
        help="a Keras data set: search on a stratified subset of this many training images "
        "(default: all of them)",
    )
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--trials", type=int, default=workload.TRIALS)
    parser.add_argument("--epochs", type=int, default=workload.EPOCHS)
    parser.add_argument("--results", type=Path, default=RESULTS, help="folder of JSON records")
    parser.add_argument("--table", action="store_true", help="print the tables and stop")
    parser.add_argument("--one", choices=ARMS, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.table:
        print(table(args.results))
        return
    try:
        dataset = workload.dataset_spec(args.dataset, args.max_samples)
    except ValueError as exc:
        parser.error(f"--max-samples: {exc}")
    try:
        described = workload.check(dataset)
    except DataError as exc:
        parser.exit(2, f"error: {exc}\n")
    if args.one:
        run_one(args.one, args.seeds[0], args.trials, args.epochs, args.out, dataset)
        return
    from benchmarks.automl_cli import env_with_repo

    print(f"data: {described}", flush=True)
    args.results.mkdir(parents=True, exist_ok=True)
    chosen = ["--dataset", args.dataset]
    if args.max_samples is not None:
        chosen += ["--max-samples", str(args.max_samples)]
    for seed in args.seeds:
        for arm in args.arms:
            out = record_path(args.results, arm, seed, dataset)
            t0 = time.perf_counter()
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "benchmarks.compare",
                    "--one",
                    arm,
                    "--seeds",
                    str(seed),
                    "--trials",
                    str(args.trials),
                    "--epochs",
                    str(args.epochs),
                    *chosen,
                    "--out",
                    str(out),
                ],
                check=True,
                env=env_with_repo(),
            )
            print(f"{arm} seed {seed}: {time.perf_counter() - t0:.0f} s", flush=True)
    print(table(args.results))


if __name__ == "__main__":
    main()
