"""What a trial's artifacts cost: the learning-curve plot, the top-K model file, and the
end-of-study step, measured on digits with the real tracker and stores.

    python -m benchmarks.trial_artifacts [--repeats 7] [--out benchmarks/trial_artifacts.json]

Each repeat is one trial's `TrialTracker.collect` (the time the worker spends between the end
of training and Optuna settling the trial: the curves are drawn on a thread meanwhile, so
`collect` is the model file's part), and its parts timed one by one. The end-of-study step is
timed in-process (TensorFlow already loaded) and as the child process `automl run` starts.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def median_ms(samples: list[float]) -> float:
    return round(statistics.median(samples) * 1000, 1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/trial_artifacts.json"))
    args = parser.parse_args()
    out = args.out.resolve()

    import keras
    import optuna
    from mlflow import MlflowClient
    from optuna.artifacts import upload_artifact

    from automl.data.dataset import load_dataset
    from automl.data.pipeline import pipelines
    from automl.run.finalize import finalize_study
    from automl.run.storage import open_storage
    from automl.run.study import open_study
    from automl.run.supervisor import finalize_in_child
    from automl.search.space import suggest
    from automl.spec.rules import parse
    from automl.tracking.curves import plot_learning_curves
    from automl.tracking.study_run import start_study_run
    from automl.tracking.trial_tracker import TrialTracker
    from automl.train.model import build_model
    from automl.train.objective import Outcome

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    folder = Path(tempfile.mkdtemp(prefix="bench-artifacts-"))
    os.chdir(folder)
    spec = parse(
        {
            "name": "bench",
            "epochs": 10,
            "keep_models": args.repeats + 1,  # every trial is in the top K: the worst case
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

    parts: dict[str, list[float]] = {k: [] for k in ("collect", "plot", "save", "log", "upload")}
    for _ in range(args.repeats):
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
        parts["collect"].append(time.perf_counter() - started)
        study.tell(trial, outcome.value)
        tracker(study, study.trials[trial.number])

        # The same steps one by one, to see where the time goes.
        run_id = trial.user_attrs["mlflow_run_id"]
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            png = plot_learning_curves(history, Path(tmp) / "c.png", "bench")
            t1 = time.perf_counter()
            model.save(Path(tmp) / "m.keras")
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
        parts["plot"].append(t1 - t0)
        parts["save"].append(t2 - t1)
        parts["log"].append(t3 - t2)
        parts["upload"].append(t5 - t4)
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

    result: dict[str, Any] = {
        "what": "per-trial artifact cost (median of repeats) and the end-of-study step",
        "repeats": args.repeats,
        "epochs_in_curve": spec.epochs,
        "model": "digits CNN, depth 2, width 32",
        "load_average_1min_at_end": round(os.getloadavg()[0], 2),
        "cpu_count": os.cpu_count(),
        "collect_ms": median_ms(parts["collect"]),
        "plot_ms": median_ms(parts["plot"]),
        "model_save_ms": median_ms(parts["save"]),
        "mlflow_log_model_file_ms": median_ms(parts["log"]),
        "optuna_upload_png_ms": median_ms(parts["upload"]),
        "finalize_in_process_s": round(in_process, 2),
        "finalize_child_process_s": round(child, 2),
    }
    text = json.dumps(result, indent=2)
    print(text)
    out.write_text(text + "\n")


if __name__ == "__main__":
    main()
