"""Many workers on one study: budget, dead workers, stop signals, GPUs.

The slow tests run `automl run` as real processes on digits and kill or interrupt them with
real signals; the fast ones drive the retry logic with real processes on a real journal.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from mlflow import MlflowClient

from automl.errors import AutomlError
from automl.run.devices import (
    check_gpus,
    detect_gpus,
    gpu_environment,
    gpu_for,
    gpus_listed,
    threads_per_worker,
)
from automl.run.recovery import MAX_DEATHS, reap_dead_workers, this_worker
from automl.run.storage import open_storage
from automl.run.study import counted, superseded, work_left
from automl.run.supervisor import run_study
from automl.spec.reading import load_spec
from tests.processes import (
    GRID,
    cells,
    environment,
    finish,
    grid_cells,
    live,
    start_run,
    study_file,
    training_trial,
    trials,
    wait_for,
)

# ---- GPUs and threads: pure functions -------------------------------------------------


def test_workers_take_gpus_round_robin():
    assert [gpu_for(i, ["0", "1"]) for i in range(5)] == ["0", "1", "0", "1", "0"]
    assert [gpu_for(i, ["3"]) for i in range(3)] == ["3", "3", "3"]


def test_without_gpus_a_worker_environment_is_left_alone():
    assert gpu_for(0, []) is None and gpu_for(7, []) is None
    assert gpu_environment(None) == {}
    assert gpu_environment("1") == {
        "CUDA_VISIBLE_DEVICES": "1",
        "TF_FORCE_GPU_ALLOW_GROWTH": "true",
    }


@pytest.mark.parametrize(
    ("visible", "expected"), [("2,3", ["2", "3"]), ("", []), ("-1", []), (" 0 , 1 ", ["0", "1"])]
)
def test_visible_devices_decide_the_gpus(monkeypatch, visible, expected):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    assert detect_gpus() == expected


# `nvidia-smi -L` as an H200 machine printed it (2026-11), and with MIG instances under GPUs.
H200 = "GPU 0: NVIDIA H200 (UUID: GPU-0f6d469d-a103-7615-16a7-e8544dd0eca8)\n"
MIG = (
    "GPU 0: NVIDIA A100-SXM4-40GB (UUID: GPU-5d5ba0d6-d33d-2b2c-524d-9e3d8d2b8a77)\n"
    "  MIG 3g.20gb     Device  0: (UUID: MIG-c6d4f1ef-42e4-5de3-91c7-45d71c87eb3f)\n"
    "  MIG 3g.20gb     Device  1: (UUID: MIG-cba663e8-9bed-5b25-b243-5985ef7c9beb)\n"
    "GPU 1: NVIDIA A100-SXM4-40GB (UUID: GPU-2f3e2a6b-a51b-9d3f-1f2c-0e7f6c1d9a10)\n"
)


def test_nvidia_smi_lists_the_gpus():
    assert gpus_listed(H200) == ["0"]
    assert gpus_listed(MIG) == ["0", "1"]
    assert gpus_listed("") == []


def test_gpus_asked_for_must_exist():
    check_gpus(["1", "0"], ["0", "1"])
    check_gpus(["0"], [])  # no GPU seen (no driver tools): taken as given
    check_gpus(["MIG-c6d4f1ef-42e4-5de3-91c7-45d71c87eb3f"], ["0"])  # UUIDs pass through
    # On a one-GPU machine CUDA_VISIBLE_DEVICES=1 shows no device at all (measured on an
    # H200): the worker would train on the CPU without a word.
    with pytest.raises(AutomlError, match=r"--gpus: no GPU 1 on this machine \(its GPUs: 0\)"):
        check_gpus(["0", "1"], ["0"])


def test_a_gpu_the_machine_lacks_is_refused_before_anything_is_stored(tmp_path):
    spec = study_file(tmp_path, "gpus")
    env = {**environment(tmp_path), "CUDA_VISIBLE_DEVICES": "0"}  # a machine with GPU 0 only
    out = subprocess.run(
        [sys.executable, "-m", "automl", "run", str(spec), "--gpus", "0,1"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 2
    assert out.stderr.strip() == "error: --gpus: no GPU 1 on this machine (its GPUs: 0)"
    assert not (tmp_path / "automl.journal").exists() and not (tmp_path / "mlflow.db").exists()


@pytest.mark.skipif(shutil.which("nvidia-smi") is not None, reason="this machine has GPUs")
def test_a_cpu_only_machine_has_no_gpus(monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert detect_gpus() == []


def test_workers_share_the_cores():
    cores = len(os.sched_getaffinity(0))
    assert threads_per_worker(1) == cores
    assert threads_per_worker(cores) == 1
    assert threads_per_worker(cores * 4) == 1


# ---- Retrying the trials of dead workers, on a real journal ---------------------------


def _dead_worker() -> dict:
    """The identity of a worker process that has exited (a real one, not made up)."""
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import json; from automl.run.recovery import this_worker; print(json.dumps(this_worker()))",
        ],
        capture_output=True,
        text=True,
        check=True,
        env=environment(Path.cwd()),
    ).stdout
    return json.loads(out)


def _running_trial(study: optuna.Study, worker: dict) -> optuna.trial.FrozenTrial:
    trial = study.ask()
    trial.suggest_categorical("learning_rate", GRID["learning_rate"])
    trial.suggest_categorical("width", GRID["width"])
    trial.set_user_attr("worker", worker)
    return study._storage.get_trial(trial._trial_id)


@pytest.fixture
def grid_study(tmp_path) -> optuna.Study:
    return optuna.create_study(
        study_name="reap",
        storage=open_storage(str(tmp_path / "s.journal")),
        sampler=optuna.samplers.GridSampler(GRID, seed=0),
    )


def test_a_dead_workers_trial_is_failed_with_its_reason_and_retried_as_it_was(grid_study):
    dead = _dead_worker()
    first = _running_trial(grid_study, dead)
    reaped = reap_dead_workers(grid_study)
    assert [t.number for t in reaped] == [first.number]
    all_trials = grid_study.get_trials()
    failed, retry = all_trials
    assert failed.state.name == "FAIL"
    assert (
        f"worker process {dead['pid']} on {socket.gethostname()} died"
        in (failed.user_attrs["fail_reason"])
    )
    assert failed.user_attrs["fail_reason"].endswith("retried with the same parameters")
    assert retry.state.name == "WAITING" and retry.params == failed.params
    assert retry.system_attrs["grid_id"] == failed.system_attrs["grid_id"]  # same grid cell
    assert retry.system_attrs["retry_history"] == [failed.number]
    assert "fail_reason" not in retry.user_attrs
    # The retry takes the failure's place in the budget, and is work still to do.
    assert superseded(all_trials) == {failed.number}
    assert counted(all_trials) == 1 and work_left(all_trials, 1) == 1
    assert reap_dead_workers(grid_study) == []  # once only


def test_live_workers_and_other_machines_trials_are_left_running(grid_study):
    me = this_worker()
    elsewhere = {**_dead_worker(), "host": "another-machine"}
    reused_pid = {**me, "started": me["started"] - 100}  # this pid, but another process's
    _running_trial(grid_study, me)
    _running_trial(grid_study, elsewhere)
    third = _running_trial(grid_study, reused_pid)
    assert [t.number for t in reap_dead_workers(grid_study)] == [third.number]
    states = [t.state.name for t in grid_study.get_trials()]
    assert states == ["RUNNING", "RUNNING", "FAIL", "WAITING"]


def test_parameters_that_keep_killing_workers_are_given_up(grid_study):
    dead = _dead_worker()
    first = _running_trial(grid_study, dead)
    for _ in range(MAX_DEATHS):
        assert reap_dead_workers(grid_study)
        retry = grid_study.ask()  # a worker pops the retry, and dies too
        assert retry.params == first.params
        retry.set_user_attr("worker", dead)
    reap_dead_workers(grid_study)
    all_trials = grid_study.get_trials()
    last = all_trials[-1]
    assert last.state.name == "FAIL"
    assert "not retried" in last.user_attrs["fail_reason"]
    assert not [t for t in all_trials if t.state.name in ("WAITING", "RUNNING")]
    assert counted(all_trials) == 1  # the give-up counts once


# ---- automl run with many workers ------------------------------------------------------

GRID4 = {"learning_rate": [0.03, 0.01], "width": [8, 16]}


def _check_done(all_trials, budget: int) -> None:
    """The study as a user checks it: the budget met exactly, nothing running or lost."""
    standing = live(all_trials)
    assert len(standing) == budget, [(t.number, t.state.name) for t in all_trials]
    assert {t.state.name for t in standing} <= {"COMPLETE", "PRUNED"}
    assert all(t.number in superseded(all_trials) for t in all_trials if t.state.name == "FAIL")


@pytest.mark.slow
def test_two_local_workers_share_the_default_journal(tmp_path):
    spec = study_file(tmp_path, "two-workers")
    code, out = finish(start_run(tmp_path, spec, "--workers", "2"))
    assert code == 0, out
    assert "database is locked" not in out and "Traceback" not in out
    all_trials = trials(str(tmp_path / "automl.journal"), "two-workers")  # the default storage
    _check_done(all_trials, 6)
    assert len(all_trials) == 6
    assert set(cells(all_trials)) == grid_cells() and max(cells(all_trials).values()) == 1
    workers = {t.user_attrs["worker"]["pid"] for t in all_trials}
    assert len(workers) == 2, "both workers ran trials"
    assert all(t.user_attrs["worker"]["gpu"] is None for t in all_trials)  # CPU only: no GPU


@pytest.mark.slow
def test_a_worker_killed_mid_trial_is_retried_and_every_cell_completes_once(tmp_path):
    spec = study_file(tmp_path, "kill", epochs=8, grid=GRID4)
    storage = str(tmp_path / "s.journal")
    # A machine with GPUs 0 and 1 (TensorFlow for the CPU ignores them).
    gpus = {"CUDA_VISIBLE_DEVICES": "0,1"}
    proc = start_run(
        tmp_path, spec, "--storage", storage, "--workers", "2", "--gpus", "0,1", env=gpus
    )
    victim = wait_for("a trial in training", lambda: training_trial(storage, "kill"), proc)
    os.kill(victim.user_attrs["worker"]["pid"], signal.SIGKILL)
    code, out = finish(proc)
    assert code == 0, out
    all_trials = trials(storage, "kill")
    _check_done(all_trials, 4)
    killed = all_trials[victim.number]
    assert killed.state.name == "FAIL"
    assert "died during the trial; retried" in killed.user_attrs["fail_reason"]
    (retry,) = [t for t in all_trials if killed.number in t.system_attrs.get("retry_history", [])]
    assert retry.state.name == "COMPLETE" and retry.params == killed.params
    assert set(cells(all_trials)) == grid_cells(GRID4) and max(cells(all_trials).values()) == 1
    # --gpus 0,1: worker i got GPU i mod 2.
    assert {t.user_attrs["worker"]["gpu"] for t in all_trials} == {"0", "1"}
    # The dead trial's MLflow run does not stay RUNNING either.
    run = MlflowClient(environment(tmp_path)["MLFLOW_TRACKING_URI"]).get_run(
        killed.user_attrs["mlflow_run_id"]
    )
    assert run.info.status == "FAILED" and "died" in run.data.tags["automl.fail_reason"]


@pytest.mark.slow
def test_stop_signals_mark_the_trial_and_the_next_run_resumes(tmp_path):
    """Ctrl-C (SIGINT to the process group), SIGTERM to `automl run` alone (docker stop), and
    SIGKILL of `automl run` (its worker follows): each time the running trial says why it
    stopped and is queued again; a last run meets the budget with nothing left behind."""
    spec = study_file(tmp_path, "stops", sampler="random", trials=4, epochs=8)
    storage = str(tmp_path / "s.journal")
    stops = [
        (lambda p: os.killpg(p.pid, signal.SIGINT), 130, "interrupted (Ctrl-C)"),
        (lambda p: os.kill(p.pid, signal.SIGTERM), 130, "stopped by SIGTERM"),
        (lambda p: os.kill(p.pid, signal.SIGKILL), -9, "stopped: its automl run process ended"),
    ]
    stopped = []
    for send, expected_code, reason in stops:
        proc = start_run(tmp_path, spec, "--storage", storage)
        victim = wait_for("a trial in training", lambda: training_trial(storage, "stops"), proc)
        send(proc)
        code, out = finish(proc, timeout=90)
        assert code == expected_code, out
        if code == 130:
            assert "run the same command again to resume" in out
        # The worker requeued its trial itself: nothing is left RUNNING for anyone to reap.
        all_trials = wait_for(
            "the stopped trial requeued",
            lambda: (
                [t for t in trials(storage, "stops") if t.state.name == "WAITING"]
                and trials(storage, "stops")
            ),
            None,
            timeout=90,
        )
        assert not [t for t in all_trials if t.state.name == "RUNNING"]
        failed = all_trials[victim.number]
        assert failed.state.name == "FAIL"
        assert failed.user_attrs["fail_reason"] == f"{reason}; queued again for the next run"
        stopped.append(failed)
    code, out = finish(start_run(tmp_path, spec, "--storage", storage))
    assert code == 0, out
    all_trials = trials(storage, "stops")
    _check_done(all_trials, 4)
    for failed in stopped:
        (retry,) = [
            t for t in all_trials if t.system_attrs.get("retry_history", [])[-1:] == [failed.number]
        ]
        assert retry.params == failed.params


@pytest.mark.slow
def test_a_worker_that_grew_retires_and_a_fresh_one_goes_on(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", environment(tmp_path)["PYTHONPATH"])
    spec = load_spec(study_file(tmp_path, "retire", sampler="random", trials=3))
    storage = str(tmp_path / "s.journal")
    # Any growth at all retires a worker after its second trial.
    result = run_study(spec, storage, None, workers=1, rss_growth_limit_mb=-1e9)
    assert result.states == {"COMPLETE": 3}
    all_trials = trials(storage, "retire")
    pids = [t.user_attrs["worker"]["pid"] for t in all_trials]
    assert pids[0] == pids[1] != pids[2]


# ---- where worker processes come from -------------------------------------------------


def _report_start(path: str) -> None:
    """A worker's view of its start: what it already has loaded, where it is, what it sees."""
    loaded = "tensorflow" in sys.modules and "mlflow" in sys.modules
    Path(path).write_text(json.dumps([loaded, os.getcwd(), os.environ.get("AUTOML_PROBE")]))


def test_a_worker_starts_with_tensorflow_loaded_and_its_callers_directory_and_environment(
    tmp_path, monkeypatch
):
    """Workers fork from a server that imported TensorFlow once; that server may have been
    started by an earlier run with another directory and environment, which a worker must not
    take over (relative storage paths, KERAS_HOME, MLFLOW_* settings)."""
    from automl.run.processes import start_process

    seen = []
    for name in ("first", "second"):
        (tmp_path / name).mkdir()
        monkeypatch.chdir(tmp_path / name)
        monkeypatch.setenv("AUTOML_PROBE", name)
        out = tmp_path / f"{name}.json"
        proc = start_process(_report_start, (str(out),), f"probe-{name}")
        proc.join(120)
        assert proc.exitcode == 0
        seen.append(json.loads(out.read_text()))
    assert seen == [
        [True, str(tmp_path / "first"), "first"],
        [True, str(tmp_path / "second"), "second"],
    ]


def test_the_fork_server_loads_tensorflow_without_starting_its_runtime():
    """Each worker picks its GPU and thread pools before TensorFlow's runtime starts; a runtime
    started in the server by what it preloads would be inherited, half-broken, by every fork."""
    probe = (
        "import automl.run.preload\n"
        "from tensorflow.python.eager import context\n"
        "print(context.context()._context_handle is not None)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip().splitlines()[-1] == "False"
