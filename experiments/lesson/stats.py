"""Numbers over seeds and the verdicts drawn from them: spreads, paired comparisons, majority
words, and the result a claim ends in."""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from experiments.lesson.trials import best_value

if TYPE_CHECKING:
    from optuna.trial import FrozenTrial

# Two accuracies closer than this count as equal: about 2 of digits' 360 validation images,
# below the spread one seed to the next gives the same configuration.
TIE = 0.005


@dataclass
class ClaimResult:
    """One claim's verdict (a line of the summary table), its section of the page and plots."""

    claim: int
    title: str
    verdict: str
    markdown: list[str] = field(default_factory=list)
    plots: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Spread:
    """Median, lowest and highest of a number over seeds."""

    median: float
    low: float
    high: float
    n: int

    def show(self, digits: int = 4) -> str:
        return self._show(f".{digits}f")

    def show_g(self) -> str:
        return self._show(".3g")

    def _show(self, spec: str) -> str:
        if self.n == 1 or self.low == self.high:
            return format(self.median, spec)
        return f"{self.median:{spec}} [{self.low:{spec}}–{self.high:{spec}}]"


def spread(values: Iterable[float | None]) -> Spread | None:
    """Median, lowest and highest over seeds; None where no seed gave a value."""
    xs = [float(v) for v in values if v is not None and math.isfinite(v)]
    if not xs:
        return None
    return Spread(statistics.median(xs), min(xs), max(xs), len(xs))


def shown(s: Spread | None, missing: str = "-") -> str:
    """A spread of accuracies for a table cell."""
    return s.show() if s else missing


def shown_g(s: Spread | None, missing: str = "-") -> str:
    """A spread of any other number for a table cell, to three digits."""
    return s.show_g() if s else missing


@dataclass(frozen=True)
class Comparison:
    """The lesson's choice against the other, seed by seed (paired: same seed, same data split)."""

    wins: int
    ties: int
    losses: int
    median_gain: float  # the lesson's choice minus the other, median over seeds
    verdict: str  # agrees | disagrees | no difference
    p_value: float | None = None  # a paired t-test's, two-sided (see paired_p)

    def show(self) -> str:
        return (
            f"{self.verdict}: better in {self.wins}, equal (within {TIE}) in {self.ties}, worse "
            f"in {self.losses} of {self.wins + self.ties + self.losses} seeds; median gain "
            f"{self.median_gain:+.4f}; {significance(self.p_value)}"
        )


# The significance level of the paired tests: with three seeds only a gain that is large and
# steady from seed to seed clears it.
ALPHA = 0.05


def significance(p: float | None) -> str:
    """A paired t-test's p, and whether it clears ALPHA (NaN: every seed gave the same gain)."""
    if p is None:
        return "too few seeds for a test"
    if math.isnan(p):
        return "the same gain in every seed, so no t-test"
    word = "significant" if p < ALPHA else "not significant"
    return f"paired t-test p = {p:.2g} ({word} at {ALPHA})"


def paired(gains: Iterable[float | None], fmt: str = "+.3g") -> str:
    """Gains seed by seed: their median and a paired t-test of them (missing seeds left out)."""
    xs = [g for g in gains if g is not None and math.isfinite(g)]
    if not xs:
        return "not measured"
    tested = significance(paired_p(xs))
    return f"median {statistics.median(xs):{fmt}} over {len(xs)} seeds; {tested}"


def paired_p(gains: Sequence[float]) -> float | None:
    """Two-sided p of a paired t-test that the mean gain is zero; None below two gains. Gains
    without spread give 1 when they are all zero, NaN (no test) when they are not."""
    if len(gains) < 2:
        return None
    sd = statistics.stdev(gains)
    mean = statistics.fmean(gains)
    if sd < 1e-9:  # the same gain up to rounding
        return 1.0 if abs(mean) < 1e-9 else math.nan
    from scipy import stats as scipy_stats

    t = mean / (sd / math.sqrt(len(gains)))
    return float(2 * scipy_stats.t.sf(abs(t), len(gains) - 1))


def compare(lesson: Sequence[float | None], other: Sequence[float | None]) -> Comparison:
    """Paired by seed. The lesson's choice agrees when it is better by more than TIE at the
    median and in more seeds than it is worse; a gain within TIE is no difference."""
    gains = [a - b for a, b in zip(lesson, other, strict=True) if a is not None and b is not None]
    wins = sum(g > TIE for g in gains)
    losses = sum(g < -TIE for g in gains)
    median = statistics.median(gains) if gains else 0.0
    if median > TIE and wins > losses:
        verdict = "agrees"
    elif median < -TIE and losses > wins:
        verdict = "disagrees"
    else:
        verdict = "no difference"
    return Comparison(wins, len(gains) - wins - losses, losses, median, verdict, paired_p(gains))


def compare_best(
    lesson: dict[int, list[FrozenTrial]], other: dict[int, list[FrozenTrial]], seeds: list[int]
) -> Comparison:
    """Two arms' best values, compared seed by seed."""
    return compare([best_value(lesson[s]) for s in seeds], [best_value(other[s]) for s in seeds])


def counts(c: Counter[str]) -> str:
    """Each verdict with how many seeds gave it, the most common first."""
    return ", ".join(f"{k} in {v}" for k, v in sorted(c.items(), key=lambda kv: -kv[1]))


def majority(c: Counter[str], n: int) -> str:
    """The verdict most seeds gave, or "mixed" where no verdict has more than half."""
    word, count = c.most_common(1)[0]
    return f"{word} ({count} of {n} seeds)" if count > n / 2 else f"mixed ({counts(c)})"


def pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def per_seed(values: Iterable[float | None]) -> str:
    """One number per seed, to three digits."""
    return " / ".join("-" if v is None else f"{v:.3g}" for v in values)
