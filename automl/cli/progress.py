"""`automl run`'s live view, drawn on stderr from the trials of every worker.

On a terminal: one line per trial that finishes during this run, above a progress bar over the
study's budget that fits the terminal's width (80 columns included). Anywhere else (a pipe, a
log file): no bar, and one plain line per finished trial, never wrapped.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import BarColumn, TextColumn
from rich.progress import Progress as RichProgress
from rich.table import Column

from automl.keys import (
    EPOCHS_ATTR,
    FAIL_REASON_ATTR,
    HYPERPARAMETERS_ATTR,
    RAY_NODE_KEY,
    WORKER_ATTR,
)
from automl.ranking import rank
from automl.results.text import format_hyperparameters
from automl.run.study import states
from automl.spec.schema import StudySpec

if TYPE_CHECKING:
    from optuna.trial import FrozenTrial

# The bar's width on a terminal: between these, whatever the line leaves.
BAR_MIN, BAR_MAX = 10, 40
# The study's name takes at most this share of the terminal's width.
NAME_SHARE = 4
# How the bar names trial states, in its order.
FINISHED = (("COMPLETE", "ok"), ("PRUNED", "pruned"), ("FAIL", "failed"))
BUSY = (("RUNNING", "running"), ("WAITING", "queued"))
# The leading hex digits of a Ray node id shown in a trial's line.
NODE_ID_SHOWN = 8


def elapsed(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes // 60}:{minutes % 60:02d}:{secs:02d}"


def shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


def node_note(t: FrozenTrial) -> str:
    """Where a trial ran under `automl run --ray`: its Ray node's id, shortened as Ray's own
    tools show it."""
    worker = t.user_attrs.get(WORKER_ATTR)
    node = worker.get(RAY_NODE_KEY) if isinstance(worker, dict) else None
    return f"  node {str(node)[:NODE_ID_SHOWN]}" if node else ""


class Progress:
    """Reads the study's trials (all workers') and shows the budget, states and best value."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True)
        self._bar: RichProgress | None = None
        self._task: Any = None
        self._seen: set[int] | None = None  # None until the first look at the study
        self._spec: StudySpec | None = None
        self._total = 0
        self._started = 0.0

    def start(self, spec: StudySpec, total: int) -> None:
        self._spec, self._total, self._started = spec, total, time.monotonic()
        if not self.console.is_terminal:
            return
        self._bar = RichProgress(
            TextColumn(
                "{task.fields[head]}", style="bold", markup=False, table_column=Column(no_wrap=True)
            ),
            BarColumn(bar_width=BAR_MIN),
            TextColumn(
                "{task.fields[tail]}",
                markup=False,
                table_column=Column(no_wrap=True, overflow="ellipsis"),
            ),
            console=self.console,
            transient=False,
        )
        self._task = self._bar.add_task("trials", total=total, head="", tail="")
        self._bar.start()

    def update(self, trials: Sequence[FrozenTrial]) -> None:
        if self._spec is None:
            return
        finished = [t for t in trials if t.state.is_finished()]
        if self._seen is None:  # trials that finished before this run are not news
            self._seen = {t.number for t in finished}
        searched = [p.name for p in self._spec.searched]
        for t in finished:
            if t.number not in self._seen:
                self._seen.add(t.number)
                self._print(self._line(t, searched))
        if self._bar is not None:
            self._draw(trials)

    def _print(self, line: str) -> None:
        if self._bar is not None:
            self._bar.console.print(line, markup=False, highlight=False)
        else:
            self.console.file.write(line + "\n")
            self.console.file.flush()

    def _draw(self, trials: Sequence[FrozenTrial]) -> None:
        assert self._bar is not None and self._spec is not None
        counts = states(trials)
        done = counts["COMPLETE"] + counts["PRUNED"] + counts["FAIL"]
        width = self.console.width
        head = shorten(self._spec.name, max(width // NAME_SHARE, 8))
        room = width - len(head) - BAR_MIN - 2  # a space between the columns
        tails = self._tails(counts, self._best(trials), done)
        tail = next((t for t in tails if len(t) <= room), tails[-1])
        bar = self._bar.columns[1]
        assert isinstance(bar, BarColumn)
        bar.bar_width = min(BAR_MAX, BAR_MIN + room - len(tail))
        self._bar.update(self._task, completed=done, head=head, tail=tail)

    def _tails(self, counts: Counter[str], best: FrozenTrial | None, done: int) -> list[str]:
        """What follows the bar, from the fullest to the leanest: the trials done against the
        budget, their states, those running, the best value, the time this run has taken."""
        finished = " ".join(f"{counts[s]} {label}" for s, label in FINISHED if counts[s])
        busy = " ".join(f"{counts[s]} {label}" for s, label in BUSY if counts[s])
        best_part = f"best {best.value:.4f} (#{best.number})" if best is not None else ""
        took = elapsed(time.monotonic() - self._started)
        budget = f"{done}/{self._total}"
        return [
            " ".join(p for p in parts if p)
            for parts in (
                (budget, finished, busy, best_part, took),
                (budget, finished, busy, best_part),
                (budget, finished, best_part),
                (budget, best_part),
            )
        ]

    def _best(self, trials: Sequence[FrozenTrial]) -> FrozenTrial | None:
        ranked = rank(trials, self._spec.direction) if self._spec is not None else []
        return ranked[0] if ranked else None

    def _line(self, t: FrozenTrial, searched: list[str]) -> str:
        assert self._spec is not None
        hp = format_hyperparameters(t.user_attrs.get(HYPERPARAMETERS_ATTR, t.params), searched)
        epochs = t.user_attrs.get(EPOCHS_ATTR, len(t.intermediate_values))
        if t.state.name == "COMPLETE":
            what = f"{self._spec.metric} {t.value:.4f} after {epochs} epoch{'s' * (epochs != 1)}"
        elif t.state.name == "PRUNED":
            last = t.intermediate_values.get(max(t.intermediate_values, default=0))
            shown = f" ({self._spec.metric} {last:.4f})" if last is not None else ""
            what = f"pruned at epoch {epochs}{shown}"
        else:
            what = f"failed: {t.user_attrs.get(FAIL_REASON_ATTR, 'no reason recorded')}"
        return f"trial {t.number:>3} {t.state.name:<8} {what}  {hp}{node_note(t)}".rstrip()

    def stop(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
