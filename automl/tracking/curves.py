"""A trial's learning curves as a PNG (loss and accuracy per epoch), drawn in a plotter
process of the worker's own so that matplotlib never holds the worker's GIL.

The plot goes to the trial's MLflow run and to Optuna's artifact store (optuna-dashboard shows
it on the trial's page).
"""

from __future__ import annotations

import ctypes
import gc
import multiprocessing
import os
import signal
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import matplotlib
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator


def plotter() -> ProcessPoolExecutor:
    """A process of its own that draws the curves (`plot_learning_curves`) for this one.

    Matplotlib holds the GIL while it draws: drawn in a worker, even on another thread, a plot
    stalls the worker's next trial, whose model building and tracing are Python too
    (`benchmarks/parallel.py` compares workers' trials per hour with plots drawn in-process
    and without plots).
    """
    # A fork: started in milliseconds, before the worker's first trial starts TensorFlow's
    # threads; the child runs matplotlib only.
    pool = ProcessPoolExecutor(
        1,
        mp_context=multiprocessing.get_context("fork"),
        initializer=_start_plotting,
        initargs=(os.getpid(),),
    )
    # Forked now, by the calling thread: the child's death signal follows the thread that forked
    # it, and a worker's main thread lives as long as the worker.
    pool.submit(os.getpid).result()
    return pool


def _start_plotting(parent: int) -> None:
    """The plotter yields the CPU to trials, and dies with the process that started it."""
    # A plot can wait: on a machine whose cores the workers keep busy, their trials come first
    # and the plots fill the gaps (only a worker's exit waits for its last plots).
    os.nice(10)
    # What the fork inherited is never collected here: a TensorFlow object's finalizer would
    # call into a runtime that did not survive the fork, and the process would crash.
    gc.freeze()
    _die_with_parent(parent)


def _die_with_parent(parent: int) -> None:
    """Linux: the plotter is killed when its parent dies, even by SIGKILL."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1: PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return  # not Linux: a parent that exits normally shuts the plotter down
    if os.getppid() != parent:
        os._exit(0)  # the parent died before the line above


def plot_learning_curves(history: Sequence[Mapping[str, float]], path: Path, title: str) -> Path:
    """Loss and accuracy per epoch, training and validation, side by side, as a PNG."""
    global _curves
    if _curves is None:
        _curves = Curves()
    return _curves.draw(history, path, title)


# The figure of this process, drawn again for every trial: building a figure's axes, ticks and
# texts anew is a large share of a plot's CPU (`benchmarks/plot_cost.py`).
_curves: Curves | None = None


class Curves:
    """One figure of two panels (loss, accuracy), its lines updated for each trial's history."""

    PANELS = (("loss", "upper right"), ("accuracy", "lower right"))
    SERIES = (("", "training"), ("val_", "validation"))

    def __init__(self) -> None:
        matplotlib.use("Agg")  # workers have no display
        self.figure = Figure(figsize=(9, 3.6), dpi=100)
        # Fixed margins: an automatic layout engine measures every text again at each draw.
        self.figure.subplots_adjust(left=0.07, right=0.98, bottom=0.14, top=0.84, wspace=0.2)
        self.axes = self.figure.subplots(1, 2)
        self.lines = {}
        for ax, (metric, _) in zip(self.axes, self.PANELS, strict=True):
            for prefix, label in self.SERIES:
                (self.lines[prefix + metric],) = ax.plot([], [], marker="o", label=label)
            ax.set_title(metric, y=1.0)  # placed, not measured against the tick labels each time
            ax.set_xlabel("epoch")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # whole epochs, not 1.5
            ax.grid(alpha=0.3)
        self.title = self.figure.suptitle("")

    def draw(self, history: Sequence[Mapping[str, float]], path: Path, title: str) -> Path:
        epochs = list(range(1, len(history) + 1))
        for key, line in self.lines.items():
            ys = [logs.get(key, float("nan")) for logs in history]
            line.set_data(epochs, ys)
            line.set_visible(any(y == y for y in ys))
        for ax, (_, corner) in zip(self.axes, self.PANELS, strict=True):
            ax.relim(visible_only=True)
            ax.autoscale_view()
            shown = [line for line in ax.get_lines() if line.get_visible()]
            legend = ax.get_legend()
            if legend is not None:
                legend.remove()
            if shown:
                # Fixed corners: loss falls and accuracy rises, so the free corner is known;
                # loc="best" would search for one at every draw.
                ax.legend(handles=shown, loc=corner)
        self.title.set_text(title)
        self.figure.savefig(path)
        return path
