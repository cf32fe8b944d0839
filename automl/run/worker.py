"""A worker process: it loads the study's data once, runs trials until the study's budget is
met, and retires early when its memory has grown past a limit (TensorFlow keeps memory for
every model it ever built, so a fresh process is how memory stays flat: benchmarks/memory.py).

This module imports TensorFlow, Keras and MLflow: it runs only in processes forked from the
fork server (`automl.run.processes`), which imports it after `automl.backend.load_keras`.
A stop signal fails the running trial with its reason and queues it again.
"""

from __future__ import annotations

import gc
import os
import time
from typing import Any

import optuna
import psutil
import tensorflow as tf

from automl.backend import load_keras
from automl.data.dataset import load_dataset
from automl.errors import AutomlError
from automl.keys import (
    FAIL_REASON_ATTR,
    QUEUED_AGAIN,
    RAY_ACTOR_KEY,
    RAY_NODE_KEY,
    WORKER_ATTR,
)
from automl.run.devices import gpu_environment
from automl.run.finalize import finalize_study
from automl.run.recovery import WORKER_GRACE_SECONDS, requeue, superseded, this_worker
from automl.run.signals import WorkerStop, follow_supervisor
from automl.run.storage import StudyLock, open_storage
from automl.run.study import needs_finalizing, work_left
from automl.run.worker_args import DONE, INTERRUPTED, RETIRED, USER_ERROR, WorkerArgs
from automl.search.factories import make_pruner, make_sampler
from automl.tracking.artifacts import artifact_dir
from automl.tracking.study_run import StudyRun, announced_run
from automl.tracking.trial_tracker import TrialTracker
from automl.train.checkpoint import CHECKPOINTS_DIR, discard
from automl.train.objective import Objective, TrialFailed
from automl.uris import mask

# A worker waits this long for the supervisor to set MLflow up (it imports TensorFlow meanwhile).
TRACKING_WAIT_SECONDS = 300.0


def worker_main(args: WorkerArgs, errors: Any) -> None:
    """A worker process's entry point: a user's mistake goes back to the supervisor as one line."""
    stop = WorkerStop()
    stop.install()  # first: a Ctrl-C while the worker sets up must not print a traceback
    follow_supervisor(args.supervisor)
    try:
        configure_process(args)
        code = Worker(args, stop).run()
    except AutomlError as exc:
        errors.put(str(exc))
        code = USER_ERROR
    raise SystemExit(code)


def configure_process(args: WorkerArgs) -> None:
    """Before TensorFlow's runtime starts: quiet logs, this worker's GPU, its share of the cores."""
    os.environ.update(gpu_environment(args.gpu))
    load_keras()  # the caller's environment replaced the server's: TensorFlow's log level again
    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(max(1, min(2, args.threads)))
    for gpu in tf.config.list_physical_devices("GPU"):
        tf.config.experimental.set_memory_growth(gpu, True)


class Worker:
    """One worker's study, storage, lock, objective and tracker, and the trial it runs now."""

    def __init__(self, args: WorkerArgs, stop: WorkerStop) -> None:
        optuna.logging.set_verbosity(optuna.logging.ERROR)
        spec = args.spec
        self.args = args
        self.stop = stop
        self.storage = open_storage(args.storage, grace_seconds=WORKER_GRACE_SECONDS)
        self.study_id = self.storage.get_study_id_from_name(spec.name)
        # Worker 0 of a fresh study draws what the file's seed gives; any other worker, or one
        # replacing a retired worker, draws its own stream.
        started = len(self.storage.get_all_trials(self.study_id))
        self.study = optuna.load_study(
            study_name=spec.name,
            storage=self.storage,
            sampler=make_sampler(spec, stream=args.index + 1_009 * started),
            pruner=make_pruner(spec),
        )
        self.data = load_dataset(spec.dataset, spec.seed or 0)
        # Python keeps the objects of TensorFlow's import forever: freezing them spares each
        # trial's clear_session() a full garbage collection over them (measured by
        # `python -m benchmarks.hot_path --only clear_session`).
        gc.collect()
        gc.freeze()
        self.study_run = wait_for_tracking(self.study, args) if args.tracking_uri else None
        self.tracker = (
            TrialTracker(self.study_run, spec, args.storage, self.study_id)
            if self.study_run
            else None
        )
        self.identity = this_worker(args.gpu)
        if args.ray_node is not None:
            self.identity[RAY_NODE_KEY] = args.ray_node
            self.identity[RAY_ACTOR_KEY] = args.ray_actor
        self.lock = StudyLock(args.storage, spec.name)
        # Beside the study's artifacts, where every worker sharing them reads them too.
        self.checkpoints = artifact_dir(args.storage) / CHECKPOINTS_DIR / spec.name
        self.objective = Objective(
            spec,
            self.data,
            on_start=self.tracker.trial_started if self.tracker else None,
            on_outcome=self.tracker.collect if self.tracker else None,
            checkpoints=self.checkpoints,
        )
        self.running: optuna.Trial | None = None  # the trial being run now
        self.process = psutil.Process()
        self.baseline_mb: float | None = None  # the RSS once the first trial ended

    def run(self) -> int:
        """Run trials until the budget is met; returns the worker's exit code."""
        try:
            while True:
                code = self.step()
                if code is not None:
                    return code
        finally:
            if self.tracker is not None:
                self.tracker.close()  # the last trials' curves are still being drawn

    def step(self) -> int | None:
        """Start and run one trial; the exit code once the worker is done."""
        self.running = None
        with self.lock:
            # Counting and starting under the study lock: no two workers take the last slot.
            code = self.done()
            if code is None:
                code = self.run_one()
            if code is not None:
                return code
        if self.stop.reason is not None:
            return INTERRUPTED
        return self.retire_if_grown()

    def done(self) -> int | None:
        """The exit code if there is nothing more to start (the last worker finalizes)."""
        if self.stop.reason is not None:
            return INTERRUPTED
        if self.args.deadline is not None and time.time() >= self.args.deadline:
            return DONE
        trials = self.study.get_trials(deepcopy=False)
        if work_left(trials, self.args.budget) > 0:
            return None
        if all(t.state.is_finished() for t in trials):
            discard(self.checkpoints)  # a given-up trial's: nothing will resume it
            if self.tracker is not None:
                self.tracker.flush()  # this worker's last model file may still be being written
                self.finalize()
        return DONE

    def run_one(self) -> int | None:
        """One trial through Optuna; INTERRUPTED when a stop signal ended it."""
        try:
            self.study.optimize(
                self.run_trial,
                n_trials=1,
                catch=(TrialFailed,),
                callbacks=[self.tracker] if self.tracker else [],
                gc_after_trial=False,
            )
        except KeyboardInterrupt:
            self.requeue_interrupted()
            return INTERRUPTED
        except (ValueError, optuna.exceptions.UpdateFinishedTrialError):
            # Another process failed this trial under us (its heartbeat looked stale) and
            # queued it again: this worker's result has nowhere to go; carry on.
            if self.running is None or not self.retried(self.running):
                raise
        return None

    def run_trial(self, trial: optuna.Trial) -> float:
        """The objective, with the trial claimed for this worker and the study lock let go."""
        trial.set_user_attr(WORKER_ATTR, self.identity)  # before anything else: the reaper's clue
        self.lock.release()  # the trial holds its slot of the budget now
        self.running = trial
        self.stop.in_trial = True
        try:
            if self.stop.reason is not None:
                raise KeyboardInterrupt(self.stop.reason)
            return self.objective(trial)
        except KeyboardInterrupt as exc:
            trial.set_user_attr(FAIL_REASON_ATTR, f"{exc}; {QUEUED_AGAIN}")
            raise
        finally:
            self.stop.in_trial = False

    def requeue_interrupted(self) -> None:
        """Optuna has failed the stopped trial (its reason is set in `run_trial`): end its
        MLflow run and queue it again for whoever runs the study next."""
        if self.running is None:
            return
        trial_id = self.storage.get_trial_id_from_study_id_trial_number(
            self.study_id, self.running.number
        )
        failed = self.storage.get_trial(trial_id)
        with self.lock:  # as `requeue_stopped` does: a trial is queued once
            if failed.number not in superseded(self.study.get_trials(deepcopy=False)):
                requeue(self.study, failed, died=False)
        if self.tracker is not None:
            self.tracker(self.study, failed)

    def retried(self, trial: optuna.Trial) -> bool:
        """Whether another process has failed this trial and queued it again."""
        return trial.number in superseded(self.study.get_trials(deepcopy=False))

    def retire_if_grown(self) -> int | None:
        """RETIRED once this process has grown past the limit since its first trial ended."""
        rss = self.process.memory_info().rss / 2**20
        if self.baseline_mb is None:
            self.baseline_mb = rss
        elif rss - self.baseline_mb > self.args.rss_growth_limit_mb:
            return RETIRED
        return None

    def finalize(self) -> None:
        """The last worker to finish scores and registers the best model: it has TensorFlow and
        the data loaded, where the supervisor would need another process and the data again."""
        if self.study_run is not None and needs_finalizing(self.study):
            finalize_study(self.args.spec, self.args.storage, self.study_run, data=self.data)


def wait_for_tracking(study: optuna.Study, args: WorkerArgs) -> StudyRun:
    """The study's MLflow experiment and parent run in this worker's tracking store, once a
    supervisor has set them up (it does so while the fork server imports TensorFlow). Supervisors
    sharing a store share the parent run, so any of them may be the one that wrote it."""
    end = time.time() + TRACKING_WAIT_SECONDS
    while True:
        run = announced_run(study, str(args.tracking_uri))
        if run is not None:
            return run
        if time.time() > end:
            raise AutomlError(
                f"MLflow at {mask(str(args.tracking_uri))} was not set up within "
                f"{TRACKING_WAIT_SECONDS:.0f} s"
            )
        time.sleep(0.2)
