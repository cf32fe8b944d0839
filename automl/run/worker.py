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

import gc
import os
import time
from typing import TYPE_CHECKING, Any

from automl.errors import AutomlError
from automl.run.devices import gpu_environment
from automl.run.signals import _follow_supervisor, _WorkerStop
from automl.run.worker_args import DONE, INTERRUPTED, RETIRED, WorkerArgs

if TYPE_CHECKING:
    import optuna

# A worker waits this long for the supervisor to set MLflow up (it imports TensorFlow meanwhile).
TRACKING_WAIT_SECONDS = 300.0


def _configure_process(args: WorkerArgs) -> None:
    """Before TensorFlow's runtime starts: quiet logs, this worker's GPU, its share of the cores."""
    os.environ.update(gpu_environment(args.gpu))
    from automl.backend import load_keras

    load_keras()
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(max(1, min(2, args.threads)))
    for gpu in tf.config.list_physical_devices("GPU"):
        tf.config.experimental.set_memory_growth(gpu, True)


def worker_main(args: WorkerArgs, stop: _WorkerStop) -> int:
    """Run trials of one study until its budget is met; returns the worker's exit code."""
    _configure_process(args)
    import optuna
    import psutil

    from automl.data.dataset import load_dataset
    from automl.keys import FAIL_REASON_ATTR, WORKER_ATTR
    from automl.run.recovery import WORKER_GRACE_SECONDS, requeue, this_worker
    from automl.run.storage import StudyLock, open_storage
    from automl.run.study import work_left
    from automl.search.factories import make_pruner, make_sampler
    from automl.tracking.trial_tracker import TrialTracker
    from automl.train.objective import Objective, TrialFailed

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    spec = args.spec
    backend = open_storage(args.storage, grace_seconds=WORKER_GRACE_SECONDS)
    # Worker 0 of a fresh study draws what the file's seed gives; any other worker, or one
    # replacing a retired worker, draws its own stream.
    started = len(backend.get_all_trials(backend.get_study_id_from_name(spec.name)))
    study = optuna.load_study(
        study_name=spec.name,
        storage=backend,
        sampler=make_sampler(spec, stream=args.index + 1_009 * started),
        pruner=make_pruner(spec),
    )
    data = load_dataset(spec.dataset, spec.seed or 0)
    # Python keeps the ~500k objects of TensorFlow's import forever: freezing them spares each
    # trial's clear_session() a full garbage collection over them (0.6 s -> 0.08 s a trial).
    gc.collect()
    gc.freeze()
    run = _wait_for_tracking(study, args) if args.tracking_uri else None
    tracker = TrialTracker(run, spec, args.storage) if run else None
    worker = this_worker(args.gpu)
    lock = StudyLock(args.storage, spec.name)
    objective = Objective(
        spec,
        data,
        on_start=tracker.trial_started if tracker else None,
        on_outcome=tracker.collect if tracker else None,
    )
    running: list[optuna.Trial] = []

    def run_trial(trial: optuna.Trial) -> float:
        trial.set_user_attr(WORKER_ATTR, worker)  # before anything else: the reaper's clue
        lock.release()  # the trial holds its slot of the budget now
        running[:] = [trial]
        stop.in_trial = True
        try:
            if stop.reason is not None:
                raise KeyboardInterrupt(stop.reason)
            return objective(trial)
        except KeyboardInterrupt as exc:
            trial.set_user_attr(FAIL_REASON_ATTR, f"{exc}; queued again for the next run")
            raise
        finally:
            stop.in_trial = False

    process = psutil.Process()
    baseline: float | None = None
    try:
        while True:
            running.clear()
            with lock:
                # Counting and starting under the study lock: no two workers take the last slot.
                if stop.reason is not None:
                    return INTERRUPTED
                if args.deadline is not None and time.time() >= args.deadline:
                    return DONE
                trials = study.get_trials(deepcopy=False)
                if work_left(trials, args.budget) <= 0:
                    if tracker is not None and all(t.state.is_finished() for t in trials):
                        tracker.flush()  # this worker's last model file may still be being written
                        _finalize(study, args, run, data)
                    return DONE
                try:
                    study.optimize(
                        run_trial,
                        n_trials=1,
                        catch=(TrialFailed,),
                        callbacks=[tracker] if tracker else [],
                        gc_after_trial=False,
                    )
                except KeyboardInterrupt:
                    # Optuna has failed the trial (the reason is set above): end its MLflow run
                    # and queue it again for whoever runs the study next.
                    failed = study._storage.get_trial(running[0]._trial_id)
                    requeue(study, failed, died=False)
                    if tracker is not None:
                        tracker(study, failed)
                    return INTERRUPTED
                except (ValueError, optuna.exceptions.UpdateFinishedTrialError):
                    # Another process failed this trial under us (its heartbeat looked stale) and
                    # queued it again: this worker's result has nowhere to go; carry on.
                    if not running or not _retried(study, running[0]):
                        raise
            if stop.reason is not None:
                return INTERRUPTED
            rss = process.memory_info().rss / 2**20
            if baseline is None:
                baseline = rss
            elif rss - baseline > args.rss_growth_limit_mb:
                return RETIRED
    finally:
        if tracker is not None:
            tracker.close()  # the last trials' curves are still being drawn


def _wait_for_tracking(study: optuna.Study, args: WorkerArgs) -> Any:
    """The study's MLflow experiment and parent run in this worker's tracking store, once a
    supervisor has set them up (it does so while the fork server imports TensorFlow). Supervisors
    sharing a store share the parent run, so any of them may be the one that wrote it."""
    from automl.keys import TRACKING_ATTR
    from automl.tracking.study_run import StudyRun
    from automl.uris import store_key

    end = time.time() + TRACKING_WAIT_SECONDS
    while True:
        ready = study.user_attrs.get(TRACKING_ATTR) or {}
        if ready.get("store") == store_key(str(args.tracking_uri)):
            return StudyRun(str(args.tracking_uri), ready["experiment_id"], ready["parent_run_id"])
        if time.time() > end:
            raise AutomlError(
                f"MLflow at {args.tracking_uri} was not set up within {TRACKING_WAIT_SECONDS:.0f} s"
            )
        time.sleep(0.2)


def _finalize(study: optuna.Study, args: WorkerArgs, run: Any, data: Any) -> None:
    """The last worker to finish scores and registers the best model: it has TensorFlow and
    the data loaded, where the supervisor would need another process and the data again."""
    from automl.run.finalize import finalize_study, needs_finalizing

    if needs_finalizing(study):
        finalize_study(args.spec, args.storage, run, data=data)


def _retried(study: optuna.Study, trial: optuna.Trial) -> bool:
    """Whether another process has failed this trial and queued it again."""
    return any(trial.number in t.system_attrs.get("retry_history", []) for t in study.trials)


def _worker_entry(args: WorkerArgs, errors: Any) -> None:
    """A worker process's main: a user's mistake goes back to the supervisor as one line."""
    stop = _WorkerStop()
    stop.install()  # first: a Ctrl-C while the worker sets up must not print a traceback
    _follow_supervisor(args.supervisor)
    try:
        code = worker_main(args, stop)
    except AutomlError as exc:
        errors.put(str(exc))
        code = 2
    raise SystemExit(code)
