"""What a trial's artifacts cost: the learning-curve plot, the top-K model file, and the
end-of-study step, measured on digits with the real tracker and stores.

Each repeat is one trial (a depth-2, width-32 CNN, a 10-epoch curve, every trial in the top K:
the worst case) and its `TrialTracker.collect`: the time the worker spends between the end of
training and Optuna settling the trial. The curves are drawn on a thread meanwhile, so
`collect` is the model file's part; the parts are then timed one by one. A trial that is not
in the top K skips the model file.

The end-of-study step (`automl.run.finalize`: download the best model, score the test split if
any, log it with `mlflow.keras.log_model(..., pip_requirements=[...])` and register it) is
timed in-process (TensorFlow already loaded) and as the child process `automl run` starts,
which first imports TensorFlow; the child is paid once per `automl run` whose best trial has
not been finalized yet (a rerun of a finished study skips it).

    python -m benchmarks.trial_artifacts [--repeats 7]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.harness import records, stats

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

PARTS = {
    "collect": "all of it (`TrialTracker.collect`)",
    "plot": "learning-curve PNG (matplotlib, Agg)",
    "save": "`model.save(...keras)`",
    "log": "`MlflowClient.log_artifact` of the model (SQLite store, local files)",
    "upload": "`optuna.artifacts.upload_artifact` of the PNG",
}


def time_parts(study: Any, tracker: Any, client: Any, outcome: Any, run_id: str) -> list[float]:
    """The steps of `collect` one by one: plot, model save, MLflow log, Optuna upload."""
    import optuna
    from optuna.artifacts import upload_artifact

    from automl.tracking.curves import plot_learning_curves

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        png = plot_learning_curves(outcome.history, Path(tmp) / "c.png", "bench")
        t1 = time.perf_counter()
        outcome.model.save(Path(tmp) / "m.keras")
        t2 = time.perf_counter()
        client.log_artifact(run_id, str(Path(tmp) / "m.keras"), "bench")
        t3 = time.perf_counter()
        extra = study.ask()
        t4 = time.perf_counter()
        upload_artifact(
            artifact_store=tracker.artifact_store, file_path=str(png), study_or_trial=extra
        )
        t5 = time.perf_counter()
        study.tell(extra, state=optuna.trial.TrialState.FAIL)
    return [t1 - t0, t2 - t1, t3 - t2, t5 - t4]


def one_trial(study: Any, spec: Any, data: Any, tracker: Any, client: Any) -> list[float]:
    """Train a trial, time its `collect`, settle it, then time collect's parts one by one."""
    from automl.data.pipeline import pipelines
    from automl.search.space import suggest
    from automl.train.model import build_model
    from automl.train.objective import Outcome

    trial = study.ask()
    hp = suggest(trial, spec)
    tracker.trial_started(trial, hp)
    model = build_model(hp, data.input_shape, data.num_classes, data.input_scale)
    train, val = pipelines(data, hp.batch_size, 0)
    fit = model.fit(train, validation_data=val, epochs=spec.epochs, verbose=0)
    history = [{k: float(v[i]) for k, v in fit.history.items()} for i in range(spec.epochs)]
    outcome = Outcome(trial.number, hp, 0, history, model, history[-1]["val_accuracy"])
    started = time.perf_counter()
    tracker.collect(outcome)
    collect = time.perf_counter() - started
    study.tell(trial, outcome.value)
    tracker(study, study.trials[trial.number])
    run_id = trial.user_attrs["mlflow_run_id"]
    return [collect, *time_parts(study, tracker, client, outcome, run_id)]


def measure(repeats: int, folder: Path) -> dict[str, Any]:
    import keras
    import optuna
    from mlflow import MlflowClient

    from automl.data.dataset import load_dataset
    from automl.run.finalize import finalize_study
    from automl.run.storage import open_storage
    from automl.run.study import open_study
    from automl.run.supervisor import finalize_in_child
    from automl.spec.rules import parse
    from automl.tracking.study_run import start_study_run
    from automl.tracking.trial_tracker import TrialTracker

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    os.chdir(folder)
    spec = parse(
        {
            "name": "bench",
            "epochs": 10,
            "keep_models": repeats + 1,  # every trial is in the top K: the worst case
            "params": {"learning_rate": 0.01, "width": 32, "depth": 2},
        }
    )
    storage = str(folder / "automl.journal")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    data = load_dataset(spec.dataset, 0)
    study = open_study(spec, storage)
    study_id = open_storage(storage).get_study_id_from_name(spec.name)
    study_run = start_study_run(spec, study, uri, storage, study_id)
    tracker = TrialTracker(study_run, spec, storage, study_id)
    client = MlflowClient(uri)

    parts: dict[str, list[float]] = {k: [] for k in PARTS}
    for _ in range(repeats):
        for name, s in zip(PARTS, one_trial(study, spec, data, tracker, client), strict=True):
            parts[name].append(s)
        keras.backend.clear_session()
    tracker.close()

    started = time.perf_counter()
    finalize_study(spec, storage, study_run)
    in_process = time.perf_counter() - started
    client.set_tag(study_run.parent_run_id, "automl.registered_trial", "none")
    study.set_user_attr("automl.finalized_trial", -1)
    started = time.perf_counter()
    finalize_in_child(spec, storage, study_run)
    child = time.perf_counter() - started
    return {"parts_s": parts, "finalize_in_process_s": in_process, "finalize_child_s": child}


QUESTION = "What do a trial's curve plot and model file, and the end-of-study step, cost?"


def report(result: dict[str, Any], repeats: int) -> None:
    print(f"Per trial, {repeats} trials of a depth-2, width-32 CNN on digits, 10-epoch curves:\n")
    print("| part | ms |")
    print("| --- | --- |")
    for name, title in PARTS.items():
        print(f"| {title} | {stats.spread([s * 1000 for s in result['parts_s'][name]], '.0f')} |")
    print("\nEnd of study:\n")
    print("| where | s |")
    print("| --- | --- |")
    print(f"| in a process that already has TensorFlow | {result['finalize_in_process_s']:.1f} |")
    print(
        "| the child process `automl run` starts (spawn, import TensorFlow, then the same) "
        f"| {result['finalize_child_s']:.1f} |"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=QUESTION)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    here = Path.cwd()
    with tempfile.TemporaryDirectory(prefix="bench-artifacts-") as tmp:
        result = measure(args.repeats, Path(tmp))
        os.chdir(here)
    with records.teed() as shown:
        report(result, args.repeats)
    records.save("trial_artifacts", shown.getvalue(), result, QUESTION, started, argv)


if __name__ == "__main__":
    main()
