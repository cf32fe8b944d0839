"""The lesson's claim, checked on one study: batch normalization allows higher learning
rates and converges in fewer epochs.

`batch_norm_analysis` is pure (trials in, plain data out), so `automl report` and
the lesson experiment (experiments/lesson/) reach the same verdicts from the same trials.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from automl.keys import FAIL_REASON_ATTR
from automl.ranking import rank
from automl.results.query import hyperparameters
from automl.search.space import show

if TYPE_CHECKING:
    from optuna.trial import FrozenTrial

# The BN view's thresholds, as fractions of the study's best value (maximize; the inverse
# for minimize): "converged" means reaching 95% of the best; a learning rate was "tolerated"
# when training reached 80% of the best (on digits, a collapsed model sits at 0.10).
TARGET_FRACTION = 0.95
TOLERANCE_FRACTION = 0.8


@dataclass(frozen=True)
class SettingStats:
    """How the trials with (or without) batch normalization did."""

    batch_norm: bool
    trials: int
    complete: int
    best_value: float | None
    best_trial: int | None
    reached_target: int  # trials whose curve reached the target
    fewest_epochs: int | None  # the fastest of them: epochs until the target
    median_epochs: float | None
    tolerated_lrs: list[float]  # trained and reached the tolerance threshold
    failed_lrs: list[float]  # diverged, or finished below the threshold
    undecided_lrs: list[float]  # pruned before reaching the threshold: no verdict

    @property
    def max_tolerated_lr(self) -> float | None:
        return max(self.tolerated_lrs) if self.tolerated_lrs else None


@dataclass(frozen=True)
class BatchNormFindings:
    """The lesson's claim, checked on one study: verdicts are agrees / disagrees / inconclusive."""

    metric: str
    direction: str
    best_value: float
    target: float
    threshold: float
    with_bn: SettingStats
    without_bn: SettingStats
    faster: str
    faster_why: str
    higher_lr: str
    higher_lr_why: str

    @property
    def summary(self) -> str:
        verdicts = sorted({self.faster, self.higher_lr})
        overall = {
            ("agrees",): "agrees with",
            ("agrees", "inconclusive"): "partly agrees with",
            ("agrees", "disagrees"): "partly agrees and partly disagrees with",
            ("disagrees",): "disagrees with",
            ("disagrees", "inconclusive"): "partly disagrees with",
        }.get(tuple(verdicts), "can neither confirm nor refute")
        return (
            f"This study {overall} the lesson's claim that batch normalization allows higher "
            f"learning rates and faster convergence. Faster convergence: {self.faster} "
            f"({self.faster_why}). Higher learning rates: {self.higher_lr} ({self.higher_lr_why})."
        )


@dataclass(frozen=True)
class Goals:
    """The two values the analysis measures against, from the study's best value."""

    direction: str
    target: float  # "converged": the curve reached it
    threshold: float  # "tolerated": training at that learning rate reached it

    @classmethod
    def of(
        cls, best: float, direction: str, target_fraction: float, tolerance_fraction: float
    ) -> Goals:
        """Fractions of the best value when maximizing; their inverse when minimizing."""
        if direction == "maximize":
            return cls(direction, best * target_fraction, best * tolerance_fraction)
        return cls(direction, best / target_fraction, best / tolerance_fraction)

    def reaches(self, value: float, goal: float) -> bool:
        return value >= goal if self.direction == "maximize" else value <= goal


def batch_norm_analysis(
    trials: Sequence[FrozenTrial],
    direction: str,
    metric: str = "value",
    target_fraction: float = TARGET_FRACTION,
    tolerance_fraction: float = TOLERANCE_FRACTION,
) -> BatchNormFindings | None:
    """Compare the trials with and without BN; None when batch_norm did not vary."""
    finished = [t for t in trials if t.state.name in ("COMPLETE", "PRUNED", "FAIL")]
    settings = {_uses_batch_norm(t) for t in finished}
    ranking = rank(finished, direction)
    if settings != {True, False} or not ranking:
        return None
    best = float(ranking[0].value or 0.0)
    goals = Goals.of(best, direction, target_fraction, tolerance_fraction)
    with_bn = setting_stats([t for t in finished if _uses_batch_norm(t)], True, goals)
    without_bn = setting_stats([t for t in finished if not _uses_batch_norm(t)], False, goals)
    faster, faster_why = _faster_verdict(with_bn, without_bn)
    lrs = {float(hyperparameters(t).get("learning_rate", math.nan)) for t in finished}
    higher, higher_why = _learning_rate_verdict(with_bn, without_bn, len(lrs - {math.nan}) > 1)
    return BatchNormFindings(
        metric=metric,
        direction=direction,
        best_value=best,
        target=goals.target,
        threshold=goals.threshold,
        with_bn=with_bn,
        without_bn=without_bn,
        faster=faster,
        faster_why=faster_why,
        higher_lr=higher,
        higher_lr_why=higher_why,
    )


def setting_stats(mine: Sequence[FrozenTrial], batch_norm: bool, goals: Goals) -> SettingStats:
    """How the finished trials of one setting (all with BN, or all without) did."""
    top = rank(mine, goals.direction)
    epochs = [e for e in (_epochs_to(t, goals) for t in mine) if e is not None]
    tolerated, failed, undecided = _learning_rates(mine, goals)
    return SettingStats(
        batch_norm=batch_norm,
        trials=len(mine),
        complete=len(top),
        best_value=float(top[0].value or 0.0) if top else None,
        best_trial=top[0].number if top else None,
        reached_target=len(epochs),
        fewest_epochs=min(epochs) if epochs else None,
        median_epochs=statistics.median(epochs) if epochs else None,
        tolerated_lrs=sorted(tolerated),
        failed_lrs=sorted(failed),
        undecided_lrs=sorted(undecided),
    )


def _learning_rates(
    mine: Sequence[FrozenTrial], goals: Goals
) -> tuple[list[float], list[float], list[float]]:
    """The trials' learning rates, sorted into tolerated, failed and undecided."""
    tolerated: list[float] = []
    failed: list[float] = []
    undecided: list[float] = []
    for t in mine:
        lr = hyperparameters(t).get("learning_rate")
        if lr is None:
            continue
        peak = best_reached(t, goals.direction)
        if t.state.name == "FAIL":
            # Only a diverged trial speaks about the learning rate; a dead worker does not.
            if "diverged" in str(t.user_attrs.get(FAIL_REASON_ATTR, "")):
                failed.append(float(lr))
        elif peak is not None and goals.reaches(peak, goals.threshold):
            tolerated.append(float(lr))
        elif t.state.name == "COMPLETE":
            failed.append(float(lr))
        else:
            undecided.append(float(lr))
    return tolerated, failed, undecided


def _uses_batch_norm(t: FrozenTrial) -> bool:
    return bool(hyperparameters(t).get("batch_norm"))


def _epochs_to(t: FrozenTrial, goals: Goals) -> int | None:
    """The first epoch whose value reached the target; None when none did."""
    for step in sorted(t.intermediate_values):
        if goals.reaches(t.intermediate_values[step], goals.target):
            return int(step)
    return None


def _faster_verdict(bn: SettingStats, plain: SettingStats) -> tuple[str, str]:
    if bn.fewest_epochs is None and plain.fewest_epochs is None:
        return "inconclusive", "no trial reached the target"
    if plain.fewest_epochs is None:
        return "agrees", f"only BN reached the target, in {bn.fewest_epochs} epochs"
    if bn.fewest_epochs is None:
        return "disagrees", f"only no-BN reached the target, in {plain.fewest_epochs} epochs"
    why = (
        f"fewest epochs to the target {bn.fewest_epochs} with BN vs {plain.fewest_epochs} "
        f"without; median {bn.median_epochs:g} vs {plain.median_epochs:g}"
    )
    # The fastest trial decides; the median breaks a tie.
    ours = (bn.fewest_epochs, bn.median_epochs)
    theirs = (plain.fewest_epochs, plain.median_epochs)
    if ours < theirs:
        return "agrees", why
    if ours > theirs:
        return "disagrees", why
    return "inconclusive", why + ": no difference"


def _learning_rate_verdict(
    bn: SettingStats, plain: SettingStats, lr_varied: bool
) -> tuple[str, str]:
    """One setting wins only where it trained at a rate at which the other diverged or stalled.

    A setting's highest tolerated rate alone says nothing when it was never tried higher.
    """
    if not lr_varied:
        return "inconclusive", "the learning rate did not vary"
    hi_bn, hi_plain = bn.max_tolerated_lr, plain.max_tolerated_lr
    why = (
        f"highest tolerated learning rate {show(hi_bn)} with BN vs {show(hi_plain)} without; "
        f"failed at {format_lrs(bn.failed_lrs)} with BN and {format_lrs(plain.failed_lrs)} without"
    )
    if hi_bn is not None and (hi_plain is None or hi_bn > hi_plain):
        if any((hi_plain or 0.0) < lr <= hi_bn for lr in plain.failed_lrs):
            return "agrees", why
        return "inconclusive", why + "; no-BN was not tried and failed at BN's higher rates"
    if hi_plain is not None and (hi_bn is None or hi_plain > hi_bn):
        if any((hi_bn or 0.0) < lr <= hi_plain for lr in bn.failed_lrs):
            return "disagrees", why
        return "inconclusive", why + "; BN was not tried and failed at no-BN's higher rates"
    return "inconclusive", why


def format_lrs(values: list[float]) -> str:
    """Learning rates as a list a reader scans, or "none"."""
    return ", ".join(show(v) for v in values) if values else "none"


def best_reached(t: FrozenTrial, direction: str) -> float | None:
    """The best finite value on the trial's curve; None when it has none."""
    values = [v for v in t.intermediate_values.values() if math.isfinite(v)]
    if not values:
        return None
    return max(values) if direction == "maximize" else min(values)
