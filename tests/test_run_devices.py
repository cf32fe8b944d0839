"""GPUs and cores: which GPUs a machine has, which one each worker gets, and the cores'
share; and a wrong --gpus refused before anything is stored."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from automl.errors import AutomlError
from automl.run.devices import (
    check_gpus,
    detect_gpus,
    gpu_environment,
    gpu_for,
    gpus_listed,
    threads_per_worker,
)
from tests.processes import environment, study_file

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
    check_gpus(["MIG-c6d4f1ef-42e4-5de3-91c7-45d71c87eb3f"], ["0"])  # UUIDs pass through
    check_gpus(["GPU-0f6d469d-a103-7615-16a7-e8544dd0eca8"], [])
    check_gpus(["MIG-GPU-5d5ba0d6-d33d-2b2c-524d-9e3d8d2b8a77/1/0"], ["0"])  # older drivers
    # On a one-GPU machine CUDA_VISIBLE_DEVICES=1 shows no device at all (measured on an
    # H200): the worker would train on the CPU without a word.
    with pytest.raises(AutomlError, match=r"--gpus: no GPU 1 on this machine \(its GPUs: 0\)"):
        check_gpus(["0", "1"], ["0"])


NOT_AN_ID = "is not a GPU index (0, 1, ...) or a GPU or MIG UUID (GPU-..., MIG-...)"


@pytest.mark.parametrize(
    ("asked", "visible", "message"),
    [
        # No GPU visible at all: CUDA_VISIBLE_DEVICES=7 would train on the CPU without a word.
        (["7"], [], "--gpus: no GPU 7 on this machine (it has none visible)"),
        (["0"], [], "--gpus: no GPU 0 on this machine (it has none visible)"),
        (["7"], ["0", "1"], "--gpus: no GPU 7 on this machine (its GPUs: 0, 1)"),
        (["abc"], ["0"], f"--gpus: 'abc' {NOT_AN_ID}"),
        (["-1"], ["0"], f"--gpus: '-1' {NOT_AN_ID}"),
        (["0", "1.5"], ["0", "1"], f"--gpus: '1.5' {NOT_AN_ID}"),
        (["GPU-123"], ["0"], f"--gpus: 'GPU-123' {NOT_AN_ID}"),
        (["0", "0"], ["0"], "--gpus: GPU 0 given more than once"),
        ([], ["0"], "--gpus: no GPU id given; pass indices like 0,1 or GPU UUIDs"),
    ],
)
def test_a_gpu_id_that_names_no_gpu_is_refused(asked, visible, message):
    with pytest.raises(AutomlError) as info:
        check_gpus(asked, visible)
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("gpus", "visible", "line"),
    [
        ("0,1", "0", "--gpus: no GPU 1 on this machine (its GPUs: 0)"),
        ("7", "", "--gpus: no GPU 7 on this machine (it has none visible)"),
        ("abc", "0", f"--gpus: 'abc' {NOT_AN_ID}"),
        ("-1", "", f"--gpus: '-1' {NOT_AN_ID}"),
        ("0,0", "0", "--gpus: GPU 0 given more than once"),
        ("", "0", "--gpus: no GPU id given; pass indices like 0,1 or GPU UUIDs"),
    ],
)
def test_a_gpu_the_machine_lacks_is_refused_before_anything_is_stored(
    tmp_path, gpus, visible, line
):
    spec = study_file(tmp_path, "gpus")
    env = {**environment(tmp_path), "CUDA_VISIBLE_DEVICES": visible}  # the machine's GPUs
    out = subprocess.run(
        [sys.executable, "-m", "automl", "run", str(spec), "--gpus", gpus],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 2
    assert out.stderr.strip() == f"error: {line}"
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
