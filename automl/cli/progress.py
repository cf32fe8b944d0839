"""`automl run`'s live view: a progress bar over the study's budget and a line per finished
trial, drawn on stderr from the trials of every worker."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
from rich.progress import Progress as RichProgress

from automl.keys import EPOCHS_ATTR, FAIL_REASON_ATTR, HYPERPARAMETERS_ATTR
from automl.ranking import rank
from automl.results.text import format_hyperparameters
from automl.run.study import states
from automl.spec.schema import StudySpec

if TYPE_CHECKING:
    from optuna.trial import FrozenTrial


class Progress:
    """Reads the study's trials (all workers') and shows the budget, states and best value."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True)
        self._bar: RichProgress | None = None
        self._task: Any = None
        self._seen: set[int] = set()
        self._spec: StudySpec | None = None

    def start(self, spec: StudySpec, total: int) -> None:
        self._spec = spec
        self._bar = RichProgress(
            TextColumn("[bold]{task.fields[name]}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[status]}"),
            console=self.console,
            transient=False,
        )
        self._task = self._bar.add_task("trials", total=total, name=spec.name, status="")
        self._bar.start()

    def update(self, trials: Sequence[FrozenTrial]) -> None:
        if self._bar is None or self._spec is None:
            return
        spec = self._spec
        searched = [p.name for p in spec.searched]
        for t in trials:
            if t.state.is_finished() and t.number not in self._seen:
                self._seen.add(t.number)
                self._bar.console.print(self._line(t, searched))
        counts = states(trials)
        done = counts["COMPLETE"] + counts["PRUNED"] + counts["FAIL"]
        best = self._best(trials)
        status = " ".join(f"{k.lower()} {v}" for k, v in sorted(counts.items()))
        if best is not None:
            status += f" | best {spec.metric} {best.value:.4f} (trial {best.number})"
        self._bar.update(self._task, completed=done, status=status)

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
        return f"trial {t.number:>3} {t.state.name:<8} {what}  {hp}"

    def stop(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
