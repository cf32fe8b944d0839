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
import gc
import os
import re
import select
import signal
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from automl.backend import start_process, worker_context
from automl.errors import AutomlError
from automl.spec import StudySpec

if TYPE_CHECKING:
    import optuna

    from automl.progress import Progress

# Exit codes of a worker process.
DONE = 0
RETIRED = 3  # memory grew past the limit: start a fresh worker in its place
INTERRUPTED = 130
# A worker retires once its RSS has grown this much since its first trial ended.
RSS_GROWTH_LIMIT_MB = 120.0
# A worker waits this long for the supervisor to set MLflow up (it imports TensorFlow meanwhile).
TRACKING_WAIT_SECONDS = 300.0
# Give up when workers keep crashing without finishing a trial.
MAX_CRASHES = 3
# How often the supervisor reads the study, and how long it waits for stopping workers.
POLL_SECONDS = 0.5
STOP_WAIT_SECONDS = 60.0
# The signals that stop a run, and what a trial they stop says about it. A worker gets
# SIGHUP when its supervisor dies (Linux), as if the terminal had closed.
STOP_REASONS = {
    signal.SIGINT: "interrupted (Ctrl-C)",
    signal.SIGTERM: "stopped by SIGTERM",
    signal.SIGHUP: "stopped: its automl run process ended",
}


@dataclass(frozen=True)
class WorkerArgs:
    spec: StudySpec
    storage: str
    tracking_uri: str | None  # None: no MLflow
    budget: int
    deadline: float | None
    index: int
    threads: int
    supervisor: int  # the supervisor's pid: a worker stops when it is gone
    gpu: str | None = None
    rss_growth_limit_mb: float = RSS_GROWTH_LIMIT_MB


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


def gpu_for(index: int, gpus: Sequence[str]) -> str | None:
    """Worker `index`'s GPU: round robin over the GPUs; None (leave CUDA alone) without any."""
    return gpus[index % len(gpus)] if gpus else None


def gpu_environment(gpu: str | None) -> dict[str, str]:
    """The environment a worker on `gpu` needs: only that GPU, and memory grown on demand
    (TensorFlow would otherwise take all of it at the first model)."""
    if gpu is None:
        return {}
    return {"CUDA_VISIBLE_DEVICES": gpu, "TF_FORCE_GPU_ALLOW_GROWTH": "true"}


def detect_gpus() -> list[str]:
    """GPU ids visible to this machine, without importing TensorFlow."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [g.strip() for g in visible.split(",") if g.strip() and g.strip() != "-1"]
    try:
        import subprocess

        out = subprocess.run(
            ["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return gpus_listed(out)


def gpus_listed(nvidia_smi_l: str) -> list[str]:
    """The GPU indices in `nvidia-smi -L` output ("GPU 0: NVIDIA H200 (UUID: GPU-...)");
    the indented MIG lines under a GPU are not GPUs of their own."""
    return re.findall(r"^GPU (\d+):", nvidia_smi_l, flags=re.MULTILINE)


def check_gpus(asked: Sequence[str], visible: Sequence[str]) -> None:
    """--gpus names GPUs of this machine: CUDA would hide a wrong index and train on the CPU.
    (UUIDs, MIG instances' included, are passed on as they are.)"""
    missing = [g for g in asked if g.isdigit() and visible and g not in visible]
    if missing:
        raise AutomlError(
            f"--gpus: no GPU {', '.join(missing)} on this machine (its GPUs: {', '.join(visible)})"
        )


def threads_per_worker(workers: int) -> int:
    """Each worker's share of the cores this process may use, so K workers don't oversubscribe."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, (cores or 1) // workers)


class _WorkerStop:
    """A worker's stop signals: the first one ends the running trial, or the next one starts."""

    def __init__(self) -> None:
        self.reason: str | None = None
        self.in_trial = False  # raise only inside the objective, never mid-way in Optuna's tell

    def install(self) -> None:
        for sig in STOP_REASONS:
            signal.signal(sig, self._handle)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.reason is not None:
            return  # Ctrl-C reaches workers and supervisor both; one stop is enough
        self.reason = STOP_REASONS[signal.Signals(signum)]
        if self.in_trial:
            raise KeyboardInterrupt(self.reason)


def _follow_supervisor(supervisor: int) -> None:
    """Linux: receive SIGHUP when the supervisor dies, even by SIGKILL, instead of running on.

    The worker's parent is the fork server, which outlives the supervisor while any worker
    lives, so the worker watches the supervisor itself (a pidfd: no pid reuse race)."""
    try:
        pidfd = os.pidfd_open(supervisor)
    except ProcessLookupError:
        os.kill(os.getpid(), signal.SIGHUP)  # it died before this worker could watch it
        return
    except (AttributeError, OSError):
        return  # not Linux: only a supervisor that exits normally stops its workers

    def watch() -> None:
        select.select([pidfd], [], [])  # readable once the process has exited
        os.kill(os.getpid(), signal.SIGHUP)

    threading.Thread(target=watch, name="automl-follow-supervisor", daemon=True).start()


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

    from automl.data import load_dataset
    from automl.objective import Objective, TrialFailed
    from automl.storage import WORKER_GRACE_SECONDS, StudyLock, open_storage
    from automl.study import (
        FAIL_REASON_ATTR,
        WORKER_ATTR,
        make_pruner,
        make_sampler,
        requeue,
        this_worker,
        work_left,
    )
    from automl.tracking import TrialTracker

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
    from automl.tracking import TRACKING_ATTR, StudyRun, store_key

    end = time.time() + TRACKING_WAIT_SECONDS
    while True:
        ready = study.user_attrs.get(TRACKING_ATTR) or {}
        if ready.get("store") == store_key(str(args.tracking_uri)):
            return StudyRun(str(args.tracking_uri), ready["experiment_id"], ready["parent_run_id"])
        if time.time() > end:
            raise AutomlError(f"MLflow at {args.tracking_uri} was not set up within "
                              f"{TRACKING_WAIT_SECONDS:.0f} s")
        time.sleep(0.2)


def _finalize(study: optuna.Study, args: WorkerArgs, run: Any, data: Any) -> None:
    """The last worker to finish scores and registers the best model: it has TensorFlow and
    the data loaded, where the supervisor would need another process and the data again."""
    from automl.finalize import finalize_study, needs_finalizing

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


class _SupervisorStop:
    """The supervisor's stop signals: passed on to the workers; a second one kills them."""

    def __init__(self, procs: dict[int, Any]) -> None:
        self.procs = procs
        self.signum: int | None = None
        self.count = 0
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> _SupervisorStop:
        for sig in STOP_REASONS:
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.count += 1
        self.signum = self.signum or signum
        _signal(self.procs, signal.SIGKILL if self.count > 1 else signum)


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

    from automl.data import check_dataset
    from automl.storage import StudyLock, file_lock, open_storage
    from automl.study import budget, fail_stale, open_study, reap_dead_workers, work_left
    from automl.tracking import (
        TRACKING_ATTR,
        close_dead_trial_run,
        finish_study_run,
        start_study_run,
        store_key,
    )

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
                ready = {"store": store_key(tracking_uri), "experiment_id": run.experiment_id,
                         "parent_run_id": run.parent_run_id}
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
        from automl.finalize import finalize_in_child, needs_finalizing

        if needs_finalizing(study):
            interrupted = not finalize_in_child(spec, storage, run)
        if not interrupted:
            finish_study_run(run, study)
    return _result(study, total, interrupted)


def _sqlite_file(tracking_uri: str | None) -> Path | None:
    """MLflow's SQLite file, where its folder exists (else MLflow reports the URI itself)."""
    from automl.storage import local_file

    if not tracking_uri or not tracking_uri.startswith("sqlite:///"):
        return None
    path = local_file(tracking_uri)
    return path if path is not None and path.parent.is_dir() else None


def _signal(procs: dict[int, Any], signum: int) -> None:
    for proc in procs.values():
        if proc.exitcode is None and proc.pid is not None:
            os.kill(proc.pid, signum)


def _wait_for(procs: dict[int, Any], seconds: float) -> None:
    """Wait (signals keep arriving meanwhile) until the stopping workers have exited."""
    end = time.time() + seconds
    while time.time() < end and any(p.exitcode is None for p in procs.values()):
        time.sleep(0.1)


def _result(study: optuna.Study, total: int, interrupted: bool) -> RunResult:
    from automl.study import states
    from automl.tracking import RUN_ID_ATTR

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
