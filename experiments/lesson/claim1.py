"""Claim 1, the learning rate is searched on a log scale: its numbers and words.

Two TPE searches over 1e-4..1e-1 that differ only in `log: true`; the claim holds when the
linear one crowds its trials into the top decade and the log one finds the better model.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from experiments.lesson.plots import plot_claim1
from experiments.lesson.runs import ArmRun, runs_of
from experiments.lesson.stats import (
    TIE,
    ClaimResult,
    Comparison,
    compare_best,
    pct,
    per_seed,
    shown,
    shown_g,
    spread,
)
from experiments.lesson.trials import best_param, best_value, epochs_trained, finished, hp

if TYPE_CHECKING:
    from optuna.trial import FrozenTrial

# The lesson's decades of learning rate.
DECADES = (1e-4, 1e-3, 1e-2, 1e-1)
SCALES = ("linear", "log")


def decade_shares(values: Sequence[float], edges: Sequence[float] = DECADES) -> list[float]:
    """The share of values in each interval [edges[i], edges[i+1]); the last one is closed."""
    counts = [0] * (len(edges) - 1)
    for v in values:
        for i in range(len(counts)):
            last = i == len(counts) - 1
            if edges[i] <= v < edges[i + 1] or (last and v == edges[-1]):
                counts[i] += 1
                break
    total = len(values)
    return [c / total if total else 0.0 for c in counts]


def claim1(runs: Sequence[ArmRun], plots: Path) -> ClaimResult | None:
    """The claim's result; None when no seed ran both arms."""
    arms = {key: runs_of(runs, 1, key) for key in SCALES}
    seeds = sorted(set(arms["linear"]) & set(arms["log"]))
    if not seeds:
        return None
    res = ClaimResult(1, "The learning rate is searched on a log scale", "")
    shares = {
        key: decade_shares(
            [float(hp(t, "learning_rate")) for s in seeds for t in finished(by_seed[s])]
        )
        for key, by_seed in arms.items()
    }
    cmp = compare_best(arms["log"], arms["linear"], seeds)
    best_lrs = {
        key: [best_param(by_seed[s], "learning_rate") for s in seeds]
        for key, by_seed in arms.items()
    }
    head, words = _words(cmp, shares, best_lrs)
    res.verdict = (
        f"{head}: linear put {pct(shares['linear'][-1])} of its trials in 0.01..0.1, log "
        f"{pct(shares['log'][-1])}; best value {cmp.verdict} (log − linear "
        f"{cmp.median_gain:+.4f})"
    )
    res.markdown += [
        "Two TPE searches over the learning rate 1e-4..1e-1 with the same budget, median pruning "
        "and everything else fixed; they differ only in `log: true` "
        "(`studies/lesson/claim1_lr_linear.yaml`, `claim1_lr_log.yaml`).",
        "",
        "| scale | best val_accuracy, median [min–max] over seeds | trials in 1e-4..1e-3 | "
        "1e-3..1e-2 | 1e-2..1e-1 | trials (all seeds) | epochs trained per study | best "
        "trial's learning rate, per seed |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
        *[_row(key, arms[key], seeds, shares[key], best_lrs[key]) for key in SCALES],
        "",
        f"- Best value, log against linear, seed by seed: {cmp.show()}.",
        "",
        words,
    ]
    res.plots.append(plot_claim1(arms["linear"], arms["log"], seeds, shares, plots))
    return res


def _row(
    key: str,
    by_seed: dict[int, list[FrozenTrial]],
    seeds: list[int],
    shares: list[float],
    best_lrs: list[float | None],
) -> str:
    tried = sum(len(finished(by_seed[s])) for s in seeds)
    best = spread(best_value(by_seed[s]) for s in seeds)
    trained = spread(sum(epochs_trained(t) for t in finished(by_seed[s])) for s in seeds)
    return (
        f"| {key} | {shown(best)} | "
        + " | ".join(pct(x) for x in shares)
        + f" | {tried} | {shown_g(trained)} | {per_seed(best_lrs)} |"
    )


def _words(
    cmp: Comparison, shares: dict[str, list[float]], best_lrs: dict[str, list[float | None]]
) -> tuple[str, str]:
    """The verdict's head word, and the paragraph that says it."""
    lin_top, log_top = shares["linear"][-1], shares["log"][-1]
    crowded = lin_top > log_top
    if crowded:
        coverage = (
            "As the lesson says, the linear scale crowds the trials into the top decade "
            f"({pct(lin_top)} of them in 0.01..0.1, against {pct(log_top)} on the log scale)"
        )
    else:
        coverage = (
            "Unlike what the lesson expects, the linear search did not crowd its trials into "
            f"the top decade ({pct(lin_top)} in 0.01..0.1, log {pct(log_top)})"
        )
    if cmp.verdict == "agrees":
        head = "agrees" if crowded else "partly agrees"
        tail = "and the log search found the better model"
    elif cmp.verdict == "disagrees":
        head = "partly disagrees" if crowded else "disagrees"
        tail = "but the linear search found the better model"
    else:
        head = "agrees on coverage, no difference in the result" if crowded else "not shown"
        tail = f"but the best values differ by less than {TIE}"
    text = f"**{head.capitalize()}.** {coverage}, {tail}."
    found = [v for vs in best_lrs.values() for v in vs if v is not None]
    if cmp.verdict != "agrees" and found and min(found) >= DECADES[2]:
        text += (
            f" Every best trial had a learning rate in the top decade ({min(found):.3g}.."
            f"{max(found):.3g}), where a linear search samples most; the log scale pays off when "
            "the best rate lies lower, where a linear search hardly ever looks."
        )
    return head, text
