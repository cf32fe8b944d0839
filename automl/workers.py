"""Worker processes and the supervisor that runs a study to its budget.

`automl run` is a supervisor: it opens the study, starts K worker processes (TensorFlow does
not share a process well), shows progress from the storage, retries the trials of workers
that died, and replaces workers that retire. A worker loads the data once, runs trials until
the budget is met, and retires early when its memory has grown past a limit: TensorFlow keeps
a few MB per model it ever built, so a fresh process is how memory stays flat.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

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
RSS_GROWTH_LIMIT_MB = 100.0
# Give up when workers keep crashing without finishing a trial.
MAX_CRASHES = 3


@dataclass(frozen=True)
class WorkerArgs:
    spec: StudySpec
    storage: str
    tracking: Any  # tracking.StudyRun, or None without MLflow
    budget: int
    deadline: float | None
    index: int
    threads: int
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


def work_left(study: optuna.Study, budget: int) -> int:
    """Trials still to start: the unspent budget plus the queued (WAITING) retries."""
    from automl.study import counted

    trials = study.get_trials(deepcopy=False)
    waiting = sum(1 for t in trials if t.state.name == "WAITING")
    return max(0, budget - counted(trials)) + waiting


def _configure_process(args: WorkerArgs) -> None:
    """Before TensorFlow loads: quiet logs, this worker's GPU, its share of the cores."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("ABSL_MIN_LOG_LEVEL", "2")
    if args.gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = args.gpu
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(max(1, min(2, args.threads)))
    for gpu in tf.config.list_physical_devices("GPU"):
        tf.config.experimental.set_memory_growth(gpu, True)


def worker_main(args: WorkerArgs) -> int:
    """Run trials of one study until its budget is met; returns the worker's exit code."""
    _configure_process(args)
    import optuna
    import psutil

    from automl.data import load_dataset
    from automl.objective import Objective, TrialFailed
    from automl.storage import open_storage
    from automl.study import WORKER_ATTR, make_pruner, make_sampler, this_worker
    from automl.tracking import TrialTracker

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    spec = args.spec
    study = optuna.load_study(
        study_name=spec.name,
        storage=open_storage(args.storage),
        sampler=make_sampler(spec),
        pruner=make_pruner(spec),
    )
    data = load_dataset(spec.dataset, spec.seed or 0)
    tracker = TrialTracker(args.tracking, spec, args.storage) if args.tracking else None
    worker = this_worker()

    def on_start(trial: optuna.Trial, hp: Any) -> None:
        trial.set_user_attr(WORKER_ATTR, worker)
        if tracker is not None:
            tracker.trial_started(trial, hp)

    objective = Objective(
        spec, data, on_start=on_start, on_outcome=tracker.collect if tracker else None
    )
    process = psutil.Process()
    baseline: float | None = None
    while work_left(study, args.budget) > 0:
        if args.deadline is not None and time.time() >= args.deadline:
            return DONE
        try:
            study.optimize(
                objective,
                n_trials=1,
                catch=(TrialFailed,),
                callbacks=[tracker] if tracker else [],
                gc_after_trial=False,
            )
        except KeyboardInterrupt:
            if tracker is not None:
                tracker.abandon("interrupted (Ctrl-C); queued again for the next run")
            _requeue_interrupted(study, worker)
            return INTERRUPTED
        rss = process.memory_info().rss / 2**20
        if baseline is None:
            baseline = rss
        elif rss - baseline > args.rss_growth_limit_mb:
            return RETIRED
    return DONE


def _requeue_interrupted(study: optuna.Study, worker: dict[str, Any]) -> None:
    """Ctrl-C: Optuna has marked this worker's trial FAIL; queue it again for the next run."""
    import optuna
    from optuna.storages import RetryHeartbeatStaleTrialCallback

    from automl.storage import MAX_RETRY
    from automl.study import WORKER_ATTR, superseded

    trials = study.get_trials(deepcopy=False)
    replaced = superseded(trials)
    mine = [
        t
        for t in trials
        if t.state == optuna.trial.TrialState.FAIL
        and t.user_attrs.get(WORKER_ATTR) == worker
        and t.number not in replaced
    ]
    if mine:
        RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRY)(study, mine[-1])


def _worker_entry(args: WorkerArgs, errors: Any) -> None:
    """A worker process's main: a user's mistake goes back to the supervisor as one line."""
    try:
        code = worker_main(args)
    except AutomlError as exc:
        errors.put(str(exc))
        code = 2
    raise SystemExit(code)


def detect_gpus() -> list[str]:
    """GPU ids visible to this machine, without importing TensorFlow."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [g for g in visible.split(",") if g.strip() and g.strip() != "-1"]
    try:
        import subprocess

        out = subprocess.run(
            ["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [str(i) for i, line in enumerate(out.splitlines()) if line.startswith("GPU ")]


def run_study(
    spec: StudySpec,
    storage: str,
    tracking_uri: str | None,
    workers: int = 1,
    trials: int | None = None,
    gpus: list[str] | None = None,
    progress: Progress | None = None,
) -> RunResult:
    """Run the study until its budget is met (or its timeout passes), with K workers."""
    import optuna

    from automl.data import check_dataset
    from automl.study import budget, open_study, reap_dead_workers
    from automl.tracking import finish_study_run, start_study_run

    check_dataset(spec.dataset)  # bad data stops here, before a study or a worker exists
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = open_study(spec, storage)
    total = budget(spec, trials)
    run = start_study_run(spec, study, tracking_uri, storage) if tracking_uri else None
    deadline = time.time() + spec.timeout if spec.timeout else None
    gpu_ids = gpus if gpus is not None else detect_gpus()
    threads = max(1, (os.cpu_count() or 1) // workers)
    ctx = multiprocessing.get_context("spawn")
    errors = ctx.Queue()
    procs: dict[int, Any] = {}
    crashes, finished_before = 0, -1
    if progress is not None:
        progress.start(spec, total)

    def spawn(index: int) -> None:
        args = WorkerArgs(
            spec=spec,
            storage=storage,
            tracking=run,
            budget=total,
            deadline=deadline,
            index=index,
            threads=threads,
            gpu=gpu_ids[index % len(gpu_ids)] if gpu_ids else None,
        )
        proc = ctx.Process(target=_worker_entry, args=(args, errors), name=f"automl-worker-{index}")
        proc.start()
        procs[index] = proc

    interrupted = False
    try:
        while True:
            reap_dead_workers(study)
            _fail_stale(study)
            for index, proc in list(procs.items()):
                if proc.exitcode is not None:
                    proc.join()
                    del procs[index]
                    if proc.exitcode not in (DONE, RETIRED):
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
            left = 0 if timed_out else work_left(study, total)
            for index in range(workers):
                if left > len(procs) and index not in procs:
                    spawn(index)
            if not procs and left == 0 and (timed_out or not running):
                break
            time.sleep(0.5)
    except KeyboardInterrupt:
        interrupted = True
        _stop_workers(procs)
        reap_dead_workers(study)
    finally:
        _stop_workers(procs, signal.SIGTERM, wait=5.0)
        if progress is not None:
            progress.update(study.get_trials(deepcopy=False))
            progress.stop()
    if run is not None and not interrupted:
        from automl.finalize import finalize_in_child, needs_finalizing

        if needs_finalizing(study):
            interrupted = not finalize_in_child(spec, storage, run)
        if not interrupted:
            finish_study_run(run, study)
    return _result(study, total, interrupted)


def _fail_stale(study: optuna.Study) -> None:
    """Database storages: fail and retry trials whose worker stopped its heartbeat."""
    from optuna.storages import fail_stale_trials

    fail_stale_trials(study)


def _stop_workers(procs: dict[int, Any], sig: int = signal.SIGINT, wait: float = 60.0) -> None:
    for proc in procs.values():
        if proc.exitcode is None and proc.pid is not None:
            os.kill(proc.pid, sig)
    end = time.time() + wait
    for proc in procs.values():
        proc.join(max(0.0, end - time.time()))
        if proc.exitcode is None:
            proc.kill()
            proc.join()


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
