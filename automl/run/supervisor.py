"""The supervisor that runs a study to its budget: `automl run` itself.

It opens the study, places K workers (TensorFlow does not share a process well), shows
progress from the storage, retries the trials of workers that died, replaces workers that
retire, and at the end has the best model scored and registered in a child process. It never
imports TensorFlow: workers and the final step are started by name (`automl.run.processes`),
and where workers run is the placement's business (`automl.run.placement`).
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import optuna
from optuna.trial import FrozenTrial

from automl.data.dataset import check_dataset
from automl.errors import AutomlError
from automl.keys import TRACKING_ATTR
from automl.run.devices import check_gpus, detect_gpus, gpu_for, threads_per_worker
from automl.run.placement import LocalProcesses, Placement
from automl.run.processes import start_process
from automl.run.progress import ProgressView
from automl.run.recovery import fail_stale, requeue_stopped
from automl.run.signals import SupervisorStop
from automl.run.storage import StudyLock, check_writable, file_lock, open_storage
from automl.run.study import (
    RunResult,
    budget,
    finished_result,
    needs_finalizing,
    open_study,
    states,
    with_best,
    work_left,
)
from automl.run.worker_args import DONE, INTERRUPTED, RETIRED, RSS_GROWTH_LIMIT_MB, WorkerArgs
from automl.spec.schema import StudySpec
from automl.tracking.probe import check_tracking_store
from automl.tracking.study_run import (
    StudyRun,
    announcement,
    close_dead_trial_run,
    finish_study_run,
    start_study_run,
)
from automl.uris import sqlite_path

# Give up when workers keep crashing without finishing a trial.
MAX_CRASHES = 3
# How often the supervisor reads the study, and how long it waits for stopping workers.
POLL_SECONDS = 0.5
STOP_WAIT_SECONDS = 60.0
# The final step's entry point, started by name: see `automl.run.processes`.
FINALIZE_MAIN = "automl.run.finalize:finalize_main"
# How long the final step gets to end after the Ctrl-C it shares with the supervisor.
FINALIZE_STOP_SECONDS = 10.0
# The exit codes of a worker that ended as planned; any other is a crash.
PLANNED_EXITS = (DONE, RETIRED, INTERRUPTED)


def run_study(
    spec: StudySpec,
    storage: str,
    tracking_uri: str | None,
    workers: int = 1,
    trials: int | None = None,
    gpus: list[str] | None = None,
    progress: ProgressView | None = None,
    rss_growth_limit_mb: float = RSS_GROWTH_LIMIT_MB,
    placement: Callable[[], Placement] | None = None,
) -> RunResult:
    """Run the study until its budget is met (or its timeout passes), with K workers placed
    by `placement` (processes of this machine unless told otherwise).

    Returns when the whole study's budget is met, counting every worker's trials (on this
    machine or another), and no trial is still running: a trial of a worker that dies
    meanwhile is retried, here if need be.
    """
    check_dataset(spec.dataset)  # bad data stops here, before a study or a worker exists
    if gpus is not None:
        check_gpus(gpus, detect_gpus())  # before anything is stored
    check_writable(storage, tracking_uri)  # read-only places: before the study or a worker
    check_tracking_store(tracking_uri)  # an unreachable store: seconds, before the study
    finished = finished_result(spec, storage, budget(spec, trials))
    if finished is not None:
        return finished  # nothing to run: no workers, no MLflow
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    supervisor = Supervisor(
        spec,
        storage,
        tracking_uri,
        workers=workers,
        total=budget(spec, trials),
        gpus=gpus if gpus is not None else detect_gpus(),
        progress=progress,
        rss_growth_limit_mb=rss_growth_limit_mb,
        placement=placement or LocalProcesses,
    )
    return supervisor.run()


class Supervisor:
    """One `automl run`: the study, where its workers run, and what the polling loop keeps."""

    def __init__(
        self,
        spec: StudySpec,
        storage: str,
        tracking_uri: str | None,
        workers: int,
        total: int,
        gpus: Sequence[str],
        progress: ProgressView | None,
        rss_growth_limit_mb: float,
        placement: Callable[[], Placement] = LocalProcesses,
    ) -> None:
        self.spec = spec
        self.storage_url = storage
        self.tracking_uri = tracking_uri
        self.worker_count = workers
        self.total = total
        self.gpus = list(gpus)
        self.progress = progress
        self.rss_growth_limit_mb = rss_growth_limit_mb
        self.storage = open_storage(storage)
        # Several `automl run`s starting at once (docker compose --scale) make one study, one
        # MLflow parent run, and one set of MLflow tables in a new SQLite file.
        with StudyLock(storage, spec.name):
            self.study = open_study(spec, self.storage)
            requeue_stopped(self.study)
        self.study_id = self.storage.get_study_id_from_name(spec.name)
        self.deadline = time.time() + spec.timeout if spec.timeout else None
        self.threads = threads_per_worker(workers)
        self.workers = placement()  # local: the fork server imports TensorFlow meanwhile
        self.stop = SupervisorStop(self.workers)
        self.study_run: StudyRun | None = None
        self.crashes = 0  # workers crashed since a trial last finished
        self.finished = -1  # finished trials at the last poll

    def run(self) -> RunResult:
        """Poll until the study is done or stopped; then end it, unless it was stopped."""
        if self.progress is not None:
            self.progress.start(self.spec, self.total)
        try:
            with self.stop:
                if self.tracking_uri:
                    self.start_tracking(self.tracking_uri)
                while not self.stop.count and self.poll():
                    self.workers.idle(POLL_SECONDS)
                if self.stop.count:
                    self.workers.signal(self.stop.signum or signal.SIGINT)  # a new worker too
                    self.workers.wait(STOP_WAIT_SECONDS)
        finally:
            self.shut_down()
        interrupted = bool(self.stop.count)
        if self.study_run is not None and not interrupted:
            interrupted = not self.end_study(self.study_run)
        return self.result(interrupted)

    def start_tracking(self, tracking_uri: str) -> None:
        """The study's MLflow experiment and parent run, announced to the workers in the study."""
        mlflow_file = sqlite_file(tracking_uri)
        with (
            StudyLock(self.storage_url, self.spec.name),
            file_lock(mlflow_file) if mlflow_file else contextlib.nullcontext(),
        ):
            self.study_run = start_study_run(
                self.spec, self.study, tracking_uri, self.storage_url, self.study_id
            )
        self.study.set_user_attr(TRACKING_ATTR, announcement(self.study_run))

    def poll(self) -> bool:
        """One look at the workers and the study, starting workers where work is left;
        False once the study is done."""
        self.retry_dead()
        self.reap_exits()
        error = self.workers.error()
        if error is not None:
            raise AutomlError(error)
        trials = self.study.get_trials(deepcopy=False)
        if self.progress is not None:
            self.progress.update(trials)
        self.check_crashes(trials)
        running = any(t.state.name == "RUNNING" for t in trials)
        timed_out = self.deadline is not None and time.time() >= self.deadline
        left = 0 if timed_out else work_left(trials, self.total)
        self.spawn(left)
        if left == 0:
            self.workers.drop_spare()
        return bool(self.workers.running()) or left > 0 or (running and not timed_out)

    def retry_dead(self) -> None:
        """Retry the trials of dead workers; their MLflow runs end FAILED."""
        dead = [
            *self.workers.reap(self.study, self.storage),
            *fail_stale(self.study, self.storage),
        ]
        if self.study_run is not None:
            for trial in dead:
                close_dead_trial_run(self.study_run, trial)

    def reap_exits(self) -> None:
        for code in self.workers.exited().values():
            if code not in PLANNED_EXITS:
                self.crashes += 1

    def check_crashes(self, trials: Sequence[FrozenTrial]) -> None:
        """Give up when workers keep crashing without a trial finishing in between."""
        finished = sum(1 for t in trials if t.state.is_finished())
        if finished != self.finished:
            self.crashes, self.finished = 0, finished
        if self.crashes >= MAX_CRASHES:
            raise AutomlError(
                f"{self.crashes} worker processes crashed without finishing a trial; "
                "see the messages above"
            )

    def spawn(self, left: int) -> None:
        """Start the missing workers, as many as there are trials left to start."""
        for index in range(self.worker_count):
            running = self.workers.running()
            if left > len(running) and index not in running and not self.stop.count:
                self.workers.start(index, self.worker_args(index))

    def worker_args(self, index: int) -> WorkerArgs:
        return WorkerArgs(
            spec=self.spec,
            storage=self.storage_url,
            tracking_uri=self.tracking_uri,
            budget=self.total,
            deadline=self.deadline,
            index=index,
            threads=self.threads,
            supervisor=os.getpid(),
            gpu=gpu_for(index, self.gpus),
            rss_growth_limit_mb=self.rss_growth_limit_mb,
        )

    def shut_down(self) -> None:
        """After an error, or workers that would not stop: none outlives the command, and the
        trials of those that had to be killed are retried."""
        self.workers.kill()
        self.retry_dead()
        if self.progress is not None:
            self.progress.update(self.study.get_trials(deepcopy=False))
            self.progress.stop()

    def end_study(self, study_run: StudyRun) -> bool:
        """Score and register the best model if need be, then close the parent run; False
        when Ctrl-C stopped the final step."""
        if needs_finalizing(self.study) and not finalize_in_child(
            self.spec, self.storage_url, study_run
        ):
            return False
        finish_study_run(study_run, self.study)
        return True

    def result(self, interrupted: bool) -> RunResult:
        trials = self.study.get_trials(deepcopy=False)
        result = RunResult(
            self.study.study_name, self.total, dict(states(trials)), interrupted=interrupted
        )
        return with_best(result, self.study)


def finalize_in_child(spec: StudySpec, storage: str, study_run: StudyRun) -> bool:
    """Run `automl.run.finalize.finalize_study` in a fresh process; False when Ctrl-C stopped it."""
    proc = start_process(FINALIZE_MAIN, (spec, storage, study_run), "automl-finalize")
    try:
        proc.join()
    except KeyboardInterrupt:
        proc.join(FINALIZE_STOP_SECONDS)  # the child got the same Ctrl-C
        if proc.exitcode is None:
            proc.kill()
            proc.join()
        return False
    if proc.exitcode != 0:
        raise AutomlError(
            f"study {spec.name}: its trials are saved, but scoring and registering the best "
            f"model failed (exit code {proc.exitcode}, see above); run the same command again "
            "to retry"
        )
    return True


def sqlite_file(tracking_uri: str) -> Path | None:
    """MLflow's SQLite file, where its folder exists (else MLflow reports the URI itself)."""
    path = sqlite_path(tracking_uri)
    return path if path is not None and path.parent.is_dir() else None
