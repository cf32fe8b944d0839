"""Worker processes and the supervisor that runs a study to its budget.

`automl run` is a supervisor: it opens the study, starts K worker processes (TensorFlow does
not share a process well), shows progress from the storage, retries the trials of workers
that died, and replaces workers that retire. A worker loads the data once, runs trials until
the budget is met, and retires early when its memory has grown past a limit: TensorFlow keeps
a few MB per model it ever built, so a fresh process is how memory stays flat. Workers are
forked from a server that has imported TensorFlow once (`automl.backend.worker_context`), so a
fresh worker costs a fork, not a 6 s import.

Stopping (Ctrl-C, SIGTERM from `docker stop`, the terminal closing) is cooperative: the
supervisor passes the signal on, each worker fails its running trial with the reason and
queues it again, and the next `automl run` picks it up. A second Ctrl-C kills the workers;
their trials are then retried as those of dead workers.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from automl.errors import AutomlError
from automl.run.devices import check_gpus, detect_gpus, gpu_for, threads_per_worker
from automl.run.processes import start_process, worker_context
from automl.run.signals import _signal, _SupervisorStop, _wait_for
from automl.run.worker import _worker_entry
from automl.run.worker_args import DONE, INTERRUPTED, RETIRED, RSS_GROWTH_LIMIT_MB, WorkerArgs
from automl.spec.schema import StudySpec

if TYPE_CHECKING:
    import optuna

    from automl.cli.progress import Progress
# Give up when workers keep crashing without finishing a trial.
MAX_CRASHES = 3
# How often the supervisor reads the study, and how long it waits for stopping workers.
POLL_SECONDS = 0.5
STOP_WAIT_SECONDS = 60.0


@dataclass
class RunResult:
    study_name: str
    budget: int
    states: dict[str, int]
    best_number: int | None = None
    best_value: float | None = None
    best_hyperparameters: dict[str, Any] = field(default_factory=dict)
    best_run_id: str | None = None
    interrupted: bool = False


def run_study(
    spec: StudySpec,
    storage: str,
    tracking_uri: str | None,
    workers: int = 1,
    trials: int | None = None,
    gpus: list[str] | None = None,
    progress: Progress | None = None,
    rss_growth_limit_mb: float = RSS_GROWTH_LIMIT_MB,
) -> RunResult:
    """Run the study until its budget is met (or its timeout passes), with K workers.

    Returns when the whole study's budget is met, counting every worker's trials (on this
    machine or another), and no trial is still running: a trial of a worker that dies
    meanwhile is retried, here if need be.
    """
    import optuna

    from automl.data.dataset import check_dataset
    from automl.keys import TRACKING_ATTR
    from automl.run.recovery import fail_stale, reap_dead_workers
    from automl.run.storage import StudyLock, file_lock, open_storage
    from automl.run.study import budget, open_study, work_left
    from automl.tracking.study_run import finish_study_run, start_study_run
    from automl.tracking.trial_tracker import close_dead_trial_run
    from automl.uris import store_key

    check_dataset(spec.dataset)  # bad data stops here, before a study or a worker exists
    if gpus:
        check_gpus(gpus, detect_gpus())  # before anything is stored
    gpu_ids = gpus if gpus is not None else detect_gpus()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    backend = open_storage(storage)
    mlflow_file = _sqlite_file(tracking_uri)
    # Several `automl run`s starting at once (docker compose --scale) make one study, one
    # MLflow parent run, and one set of MLflow tables in a new SQLite file.
    with StudyLock(storage, spec.name):
        study = open_study(spec, backend)
    run = None
    total = budget(spec, trials)
    deadline = time.time() + spec.timeout if spec.timeout else None

    threads = threads_per_worker(workers)
    ctx = worker_context()  # the server imports TensorFlow while MLflow sets up below
    errors = ctx.Queue()
    procs: dict[int, Any] = {}
    crashes, finished_before = 0, -1
    if progress is not None:
        progress.start(spec, total)

    def spawn(index: int) -> None:
        args = WorkerArgs(
            spec=spec,
            storage=storage,
            tracking_uri=tracking_uri,
            budget=total,
            deadline=deadline,
            index=index,
            threads=threads,
            supervisor=os.getpid(),
            gpu=gpu_for(index, gpu_ids),
            rss_growth_limit_mb=rss_growth_limit_mb,
        )
        procs[index] = start_process(_worker_entry, (args, errors), f"automl-worker-{index}")

    def retry_dead() -> None:
        for dead in [*reap_dead_workers(study), *fail_stale(study)]:
            if run is not None:
                close_dead_trial_run(run, study._storage.get_trial(dead._trial_id))

    stop = _SupervisorStop(procs)
    try:
        with stop:
            if tracking_uri:
                with (
                    StudyLock(storage, spec.name),
                    file_lock(mlflow_file) if mlflow_file else contextlib.nullcontext(),
                ):
                    run = start_study_run(spec, study, tracking_uri, storage)
                ready = {
                    "store": store_key(tracking_uri),
                    "experiment_id": run.experiment_id,
                    "parent_run_id": run.parent_run_id,
                }
                study.set_user_attr(TRACKING_ATTR, ready)
            while not stop.count:
                retry_dead()
                for index, proc in list(procs.items()):
                    if proc.exitcode is not None:
                        proc.join()
                        del procs[index]
                        if proc.exitcode not in (DONE, RETIRED, INTERRUPTED):
                            crashes += 1
                if not errors.empty():
                    raise AutomlError(errors.get())
                all_trials = study.get_trials(deepcopy=False)
                if progress is not None:
                    progress.update(all_trials)
                finished = sum(1 for t in all_trials if t.state.is_finished())
                if finished != finished_before:
                    crashes, finished_before = 0, finished
                if crashes >= MAX_CRASHES:
                    raise AutomlError(
                        f"{crashes} worker processes crashed without finishing a trial; "
                        "see the messages above"
                    )
                running = any(t.state.name == "RUNNING" for t in all_trials)
                timed_out = deadline is not None and time.time() >= deadline
                left = 0 if timed_out else work_left(all_trials, total)
                for index in range(workers):
                    if left > len(procs) and index not in procs and not stop.count:
                        spawn(index)
                if not procs and left == 0 and (timed_out or not running):
                    break
                time.sleep(POLL_SECONDS)
            if stop.count:
                _signal(procs, stop.signum or signal.SIGINT)  # also a worker just spawned
                _wait_for(procs, STOP_WAIT_SECONDS)
    finally:
        # An error, or workers that would not stop: none outlives the command, and the
        # trials of those that had to be killed are retried.
        _signal(procs, signal.SIGTERM)
        _wait_for(procs, 10.0)
        for proc in procs.values():
            if proc.exitcode is None:
                proc.kill()
            proc.join()
        retry_dead()
        if progress is not None:
            progress.update(study.get_trials(deepcopy=False))
            progress.stop()
    interrupted = bool(stop.count)
    if run is not None and not interrupted:
        from automl.run.finalize import finalize_in_child, needs_finalizing

        if needs_finalizing(study):
            interrupted = not finalize_in_child(spec, storage, run)
        if not interrupted:
            finish_study_run(run, study)
    return _result(study, total, interrupted)


def _sqlite_file(tracking_uri: str | None) -> Path | None:
    """MLflow's SQLite file, where its folder exists (else MLflow reports the URI itself)."""
    from automl.uris import local_file

    if not tracking_uri or not tracking_uri.startswith("sqlite:///"):
        return None
    path = local_file(tracking_uri)
    return path if path is not None and path.parent.is_dir() else None


def _result(study: optuna.Study, total: int, interrupted: bool) -> RunResult:
    from automl.keys import RUN_ID_ATTR
    from automl.run.study import states

    trials = study.get_trials(deepcopy=False)
    result = RunResult(study.study_name, total, dict(states(trials)), interrupted=interrupted)
    complete = [t for t in trials if t.state.name == "COMPLETE"]
    if complete:
        best = study.best_trial
        result.best_number = best.number
        result.best_value = best.value
        result.best_hyperparameters = dict(best.user_attrs.get("hyperparameters", best.params))
        result.best_run_id = best.user_attrs.get(RUN_ID_ATTR)
    return result
