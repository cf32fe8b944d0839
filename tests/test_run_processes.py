"""Where worker processes come from: a fork server that has TensorFlow loaded, children
started by the name of their entry point, with their caller's directory and environment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from automl.run.processes import start_process

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
    seen = []
    for name in ("first", "second"):
        (tmp_path / name).mkdir()
        monkeypatch.chdir(tmp_path / name)
        monkeypatch.setenv("AUTOML_PROBE", name)
        out = tmp_path / f"{name}.json"
        proc = start_process(f"{__name__}:_report_start", (str(out),), f"probe-{name}")
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
