"""What the claims read of a study's trials: hyperparameters, the best value, epochs trained,
and the best value against the compute spent so far."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from optuna.trial import FrozenTrial


def hp(t: FrozenTrial, name: str) -> Any:
    """One hyperparameter of a trial, as automl recorded it."""
    from automl.results.query import hyperparameters

    return hyperparameters(t).get(name)


def scored(trials: Iterable[FrozenTrial]) -> list[tuple[FrozenTrial, float]]:
    """The trials that finished with a value, each with its value."""
    return [
        (t, float(t.value)) for t in trials if t.state.name == "COMPLETE" and t.value is not None
    ]


def finished(trials: Iterable[FrozenTrial]) -> list[FrozenTrial]:
    """The trials that ended one way or another (they all spent compute)."""
    return [t for t in trials if t.state.name in ("COMPLETE", "PRUNED", "FAIL")]


def best_value(trials: Iterable[FrozenTrial]) -> float | None:
    """The study's best complete value (maximize), as `automl best` reports it."""
    values = [v for _, v in scored(trials)]
    return max(values) if values else None


def best_param(trials: Sequence[FrozenTrial], name: str) -> float | None:
    """A hyperparameter of the study's best complete trial."""
    done = scored(trials)
    if not done:
        return None
    best, _ = max(done, key=lambda tv: (tv[1], -tv[0].number))
    return float(hp(best, name))


def best_reached(t: FrozenTrial) -> float | None:
    """The best value a trial reached at any epoch (a pruned or failed one too)."""
    values = [v for v in t.intermediate_values.values() if math.isfinite(v)]
    return max(values) if values else None


def epochs_trained(t: FrozenTrial) -> int:
    """Epochs the trial trained before it ended."""
    return int(t.user_attrs.get("epochs", len(t.intermediate_values)))


def anytime(trials: Sequence[FrozenTrial]) -> list[tuple[int, float]]:
    """(epochs trained so far, best complete value so far) after each trial, in trial order."""
    points: list[tuple[int, float]] = []
    epochs, best = 0, -math.inf
    for t in sorted(finished(trials), key=lambda t: t.number):
        epochs += epochs_trained(t)
        if t.state.name == "COMPLETE" and t.value is not None:
            best = max(best, float(t.value))
        if math.isfinite(best):
            points.append((epochs, best))
    return points


def epochs_to_reach(trials: Sequence[FrozenTrial], goal: float) -> int | None:
    """Epochs trained (all trials together) until the best value so far reached `goal`."""
    for epochs, best in anytime(trials):
        if best >= goal:
            return epochs
    return None
