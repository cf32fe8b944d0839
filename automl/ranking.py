"""The one order of trials, best first: the CLI's progress line, `automl best`, the report,
the top-K models kept and the model finalized all agree on which trial is the best."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from optuna.trial import FrozenTrial


def _key(value: float, number: int, direction: str) -> tuple[float, int]:
    """Better values first; on a tie the earlier trial."""
    return (-value if direction == "maximize" else value, number)


def rank(trials: Sequence[FrozenTrial], direction: str) -> list[FrozenTrial]:
    """Complete trials, best first."""
    complete = [t for t in trials if t.state.name == "COMPLETE" and t.value is not None]
    return sorted(complete, key=lambda t: _key(float(t.value or 0.0), t.number, direction))


def top_k(values: Mapping[int, float], k: int, direction: str) -> set[int]:
    """Trial numbers of the k best of `values` (trial number -> value)."""
    ranked = sorted(values, key=lambda number: _key(values[number], number, direction))
    return set(ranked[: max(0, k)])
