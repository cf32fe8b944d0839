"""Claim 4, grid search works but costs, TPE + Hyperband gets there for less: its numbers and
words.

The lesson's 36-cell grid against TPE with Hyperband pruning over the same ranges and the same
number of trials; compute is counted in epochs trained, all trials together.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from experiments.lesson.plots import plot_claim4
from experiments.lesson.runs import ArmRun, runs_of, seconds_of
from experiments.lesson.stats import (
    TIE,
    ClaimResult,
    Comparison,
    compare_best,
    shown,
    shown_g,
    spread,
)
from experiments.lesson.trials import (
    best_param,
    best_value,
    epochs_to_reach,
    epochs_trained,
    finished,
    hp,
    scored,
)

if TYPE_CHECKING:
    from optuna.trial import FrozenTrial

TITLE = "Grid search works but costs; TPE + Hyperband gets there for less"
# The searches as the page names them, and their arms.
SEARCHES = (("full grid", "grid"), ("TPE + Hyperband", "tpe_hyperband"))


def claim4(runs: Sequence[ArmRun], plots: Path) -> ClaimResult | None:
    """The claim's result; None when no seed ran both searches."""
    grid, smart = runs_of(runs, 4, "grid"), runs_of(runs, 4, "tpe_hyperband")
    seeds = sorted(set(grid) & set(smart))
    if not seeds:
        return None
    epochs = {arm: _epochs(by_seed, seeds) for arm, by_seed in (("grid", grid), ("tpe", smart))}
    reach = [epochs_to_reach(smart[s], (best_value(grid[s]) or 0.0) - TIE) for s in seeds]
    cmp = compare_best(smart, grid, seeds)
    cheaper = sum(a < b for a, b in zip(epochs["tpe"], epochs["grid"], strict=True))
    ratio = spread(a / b for a, b in zip(epochs["tpe"], epochs["grid"], strict=True))
    head = _head(cmp, cheap=cheaper > len(seeds) / 2)
    res = ClaimResult(
        4,
        TITLE,
        f"{head}: TPE + Hyperband trained {shown_g(ratio)} of the grid's "
        f"epochs; best value {cmp.verdict} (TPE + Hyperband − grid {cmp.median_gain:+.4f})",
    )
    rows = [
        _row(key, by_seed, seeds, seconds_of(runs, 4, arm))
        for (key, arm), by_seed in zip(SEARCHES, (grid, smart), strict=True)
    ]
    res.markdown += [
        "The lesson's grid, every value it names (α 0.0001, 0.001, 0.01, 0.1 × β1 0.8, 0.88, 0.9 "
        "× β2 0.998, 0.999, 0.9995: 36 full runs, `claim4_full_grid.yaml`), against TPE over the "
        "same ranges with Hyperband pruning and the same number of trials "
        "(`claim4_tpe_hyperband.yaml`). Compute is counted in epochs trained, all trials "
        "together; wall time includes starting `automl run` and its worker.",
        "",
        "| search | best val_accuracy, median [min–max] | epochs trained | trials | states "
        "(all seeds) | seconds per study |",
        "| --- | --- | --- | --- | --- | --- |",
        *rows,
        "",
        f"- TPE + Hyperband trained fewer epochs than the grid in {cheaper} of {len(seeds)} seeds "
        f"(ratio {shown_g(ratio)}); {_pruned(smart, seeds)}.",
        f"- Best value, TPE + Hyperband against the grid: {cmp.show()}.",
        f"- Epochs TPE + Hyperband needed to come within {TIE} of the grid's best: "
        + ", ".join("never" if r is None else str(r) for r in reach)
        + f" (the grid: {shown_g(spread(epochs['grid']))}); reached in "
        f"{sum(r is not None for r in reach)} of {len(seeds)} seeds.",
        f"- Where the grid's trials went: {_grid_spans(grid, seeds)} (medians over seeds).",
        "",
        _words(head, cmp),
    ]
    res.plots.append(plot_claim4(grid, smart, seeds, plots))
    return res


def _epochs(by_seed: dict[int, list[FrozenTrial]], seeds: list[int]) -> list[int]:
    """Epochs each seed's search trained, all its trials together."""
    return [sum(epochs_trained(t) for t in finished(by_seed[s])) for s in seeds]


def _row(
    key: str, by_seed: dict[int, list[FrozenTrial]], seeds: list[int], secs: list[float]
) -> str:
    states = Counter(t.state.name for s in seeds for t in by_seed[s])
    best = spread(best_value(by_seed[s]) for s in seeds)
    return (
        f"| {key} | {shown(best)} | {shown_g(spread(_epochs(by_seed, seeds)))} | "
        f"{len(by_seed[seeds[0]])} | "
        + ", ".join(f"{v} {k.lower()}" for k, v in sorted(states.items()))
        + f" | {shown_g(spread(secs))} |"
    )


def _pruned(smart: dict[int, list[FrozenTrial]], seeds: list[int]) -> str:
    """How many trials Hyperband stopped early, and when."""
    pruned = [t for s in seeds for t in smart[s] if t.state.name == "PRUNED"]
    total = sum(len(smart[s]) for s in seeds)
    return (
        f"Hyperband stopped {len(pruned)} of its {total} trials early, after "
        f"{statistics.fmean(epochs_trained(t) for t in pruned) if pruned else 0:.1f} epochs on "
        "average"
    )


def _grid_spans(grid: dict[int, list[FrozenTrial]], seeds: list[int]) -> str:
    """How far apart the grid's β combinations lie, against its learning rates."""
    beta_range = spread(_range_at_best_lr(grid[s]) for s in seeds)
    lr_range = spread(_range_over_lrs(grid[s]) for s in seeds)
    return (
        "at its best learning rate, its 9 β1 × β2 combinations spanned "
        f"{shown(beta_range)} in val_accuracy; the best values of its 4 learning rates spanned "
        f"{shown(lr_range)}"
    )


def _head(cmp: Comparison, cheap: bool) -> str:
    """The verdict's head word: cheaper is the claim, a worse best value takes half back."""
    if cmp.verdict == "disagrees":
        return "partly disagrees" if cheap else "disagrees"
    if cheap:
        return "agrees"
    return "partly agrees" if cmp.verdict == "agrees" else "disagrees"


def _range_at_best_lr(trials: Sequence[FrozenTrial]) -> float | None:
    """How far apart the trials at the best trial's learning rate lie (the β combinations)."""
    lr = best_param(trials, "learning_rate")
    values = [v for t, v in scored(trials) if hp(t, "learning_rate") == lr]
    return max(values) - min(values) if values else None


def _range_over_lrs(trials: Sequence[FrozenTrial]) -> float | None:
    """How far apart the best values of the different learning rates lie."""
    best: dict[float, float] = {}
    for t, value in scored(trials):
        lr = float(hp(t, "learning_rate"))
        best[lr] = max(best.get(lr, -math.inf), value)
    return max(best.values()) - min(best.values()) if best else None


def _words(head: str, cmp: Comparison) -> str:
    return (
        f"**{head.capitalize()}.** "
        + {
            "agrees": "TPE + Hyperband trained fewer epochs and its best model was "
            + ("better than" if cmp.verdict == "agrees" else f"within {TIE} of")
            + " the grid's.",
            "partly disagrees": "TPE + Hyperband trained fewer epochs, but the grid found the "
            "better model.",
            "partly agrees": "TPE + Hyperband found the better model, but trained no fewer epochs.",
            "disagrees": "TPE + Hyperband trained no fewer epochs and found no better model.",
        }[head]
    )
