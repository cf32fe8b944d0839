"""The plotter process: it draws a trial's learning curves, yields the CPU to trials, and
dies with the worker that started it."""

from __future__ import annotations

from pathlib import Path

PNG = b"\x89PNG\r\n\x1a\n"


def test_the_plotter_process_yields_to_trials_and_dies_with_its_parent(tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    import psutil

    from tests.processes import environment

    script = (
        "import os, sys, time\n"
        "from pathlib import Path\n"
        "from automl.tracking.curves import plot_learning_curves, plotter\n"
        "pool = plotter()\n"
        "png = pool.submit(plot_learning_curves, [{'loss': 1.0}], "
        f"Path({str(tmp_path)!r}) / 'c.png', 'one epoch').result()\n"
        "print(pool.submit(os.getpid).result(), flush=True)\n"
        "time.sleep(60)\n"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env=environment(tmp_path)
    )
    assert parent.stdout is not None
    plotter = int(parent.stdout.readline())
    assert plotter != parent.pid and psutil.Process(plotter).ppid() == parent.pid
    # Lower priority than the worker: on busy cores the trials get the CPU first.
    assert psutil.Process(plotter).nice() == min(psutil.Process(parent.pid).nice() + 10, 19)
    assert (tmp_path / "c.png").read_bytes().startswith(PNG)  # drawn by the plotter
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    end = time.time() + 10
    while psutil.pid_exists(plotter) and psutil.Process(plotter).status() != "zombie":
        assert time.time() < end, "the plotter outlived its parent"
        time.sleep(0.1)
