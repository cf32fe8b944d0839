"""Claim 2's β grid, measured: how much the lesson's steps of β1 and β2 move the result.

The lesson's example: 0.9 -> 0.9005 changes the averaging horizon 1/(1 − β) by 0.5% and should
not matter; 0.999 -> 0.9995 doubles it and should. Each β's steps are averaged over the other
β's values, per seed, and set against the noise near 1.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from experiments.lesson.stats import TIE, majority
from experiments.lesson.trials import hp, scored

if TYPE_CHECKING:
    from optuna.trial import FrozenTrial

# The lesson's example steps of β.
BETA_STEPS = ((0.9, 0.9005), (0.999, 0.9995))

Values = dict[tuple[float, float], float]  # the final value by (this β, the other β)


def horizon(beta: float) -> float:
    """1/(1 − β): how many steps an exponential moving average with this β averages over."""
    return 1.0 / (1.0 - beta)


def greek(name: str) -> str:
    return {"beta_1": "β1", "beta_2": "β2"}.get(name, name)


def _final_values(trials: Sequence[FrozenTrial], name: str, other: str) -> Values:
    return {(float(hp(t, name)), float(hp(t, other))): v for t, v in scored(trials)}


def _others(values: Values) -> list[float]:
    return sorted({o for _, o in values})


def _moves(
    values: Values, steps: Iterable[tuple[tuple[float, float], tuple[float, float]]]
) -> list[float]:
    """The change in the final value over each step (from one cell to another), where both
    cells were measured."""
    return [
        values[end] - values[start] for start, end in steps if start in values and end in values
    ]


def _mean(xs: list[float]) -> float | None:
    return statistics.fmean(xs) if xs else None


def step_effects(trials: Sequence[FrozenTrial], name: str, other: str) -> dict[float, float]:
    """For each of the lesson's β steps (0.9 -> 0.9005, 0.999 -> 0.9995): the mean absolute
    change in the final value when `name` takes that step, `other` held at each of its values."""
    values = _final_values(trials, name, other)
    out: dict[float, float] = {}
    for a, b in BETA_STEPS:
        diffs = [abs(d) for d in _moves(values, (((a, o), (b, o)) for o in _others(values)))]
        if diffs:
            out[a] = statistics.fmean(diffs)
    return out


def noise_near_one(trials: Sequence[FrozenTrial], name: str, other: str) -> float | None:
    """The noise the step 0.999 -> 0.9995 of `name` must beat: with `name` at 0.999 or 0.9995,
    the mean absolute change when only `other` takes the step the lesson calls negligible
    (0.9 -> 0.9005, a 0.5% change of 1/(1 - β))."""
    values = _final_values(trials, name, other)
    (a, b), near_one = BETA_STEPS[0], BETA_STEPS[1]
    return _mean([abs(d) for d in _moves(values, (((x, a), (x, b)) for x in near_one))])


def jump_effect(trials: Sequence[FrozenTrial], name: str, other: str) -> float | None:
    """The mean change in the final value when `name` goes from 0.9 to 0.999 (1/(1 - β) from
    10 to 1000 steps), `other` held at each of its values; signed: negative is worse."""
    values = _final_values(trials, name, other)
    low, high = BETA_STEPS[0][0], BETA_STEPS[1][0]
    return _mean(_moves(values, (((low, o), (high, o)) for o in _others(values))))


def pairs_verdict(small: float | None, large: float | None, noise: float | None) -> str:
    """Agrees when the step near 1 moves the result more than both the step near 0.9 and the
    noise near 1 do, by more than TIE."""
    if small is None or large is None:
        return "not measured"
    if large - max(small, noise or 0.0) > TIE:
        return "agrees"
    if small - large > TIE:
        return "disagrees"
    return "no difference"


def pairs_effects(pairs: dict[int, list[FrozenTrial]]) -> dict[str, list[dict[str, Any]]]:
    """Per β, per seed: the step near 0.9, the step near 1, the noise near 1, the jump
    0.9 -> 0.999, and the verdict."""
    out: dict[str, list[dict[str, Any]]] = {}
    for name, other in (("beta_1", "beta_2"), ("beta_2", "beta_1")):
        out[name] = []
        for seed in sorted(pairs):
            steps = step_effects(pairs[seed], name, other)
            e: dict[str, Any] = {
                "small": steps.get(BETA_STEPS[0][0]),
                "large": steps.get(BETA_STEPS[1][0]),
                "noise": noise_near_one(pairs[seed], name, other),
                "jump": jump_effect(pairs[seed], name, other),
            }
            e["verdict"] = pairs_verdict(e["small"], e["large"], e["noise"])
            out[name].append(e)
    return out


def pairs_verdicts(pairs: dict[int, list[FrozenTrial]]) -> dict[str, str]:
    """Per β, the verdict most seeds gave."""
    return {
        name: majority(Counter(e["verdict"] for e in per_seed), len(per_seed))
        for name, per_seed in pairs_effects(pairs).items()
    }
