"""Claim 3, batch normalization allows higher learning rates and converges faster: its numbers
and words.

Each seed's grid of learning rates × batch normalization on/off is judged by
`automl.report.batch_norm.batch_norm_analysis`, the function behind `automl report`'s
batch-normalization view, so the page and the report say the same about the same study.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from experiments.lesson.plots import plot_claim3_curves, plot_claim3_learning_rates
from experiments.lesson.runs import ArmRun, runs_of
from experiments.lesson.stats import (
    ClaimResult,
    counts,
    majority,
    paired,
    per_seed,
    shown,
    shown_g,
    spread,
)

if TYPE_CHECKING:
    from automl.report.batch_norm import BatchNormFindings

DIRECTION = "maximize"
METRIC = "val_accuracy"
TITLE = "Batch normalization allows higher learning rates and converges faster"


def claim3(runs: Sequence[ArmRun], plots: Path) -> ClaimResult | None:
    """The claim's result; None when the grid did not run."""
    from automl.report.batch_norm import batch_norm_analysis

    grid = runs_of(runs, 3, "grid")
    if not grid:
        return None
    findings = {s: batch_norm_analysis(grid[s], DIRECTION, metric=METRIC) for s in sorted(grid)}
    found = {s: f for s, f in findings.items() if f is not None}
    res = ClaimResult(3, TITLE, "")
    if not found:
        res.verdict = "not measured: batch_norm did not vary"
        return res
    faster = Counter(f.faster for f in found.values())
    higher = Counter(f.higher_lr for f in found.values())
    target = spread(f.target for f in found.values())
    n = len(found)
    res.verdict = (
        f"higher learning rates: {majority(higher, n)}; faster convergence: {majority(faster, n)}"
    )
    res.markdown += [
        "A grid of learning rates 1e-4..1 (9 points on a log scale) × batch normalization on/off, "
        "BN momentum 0.9, 8 full epochs each (`studies/lesson/claim3_bn_lr_grid.yaml`). Judged "
        "per seed by `automl.report.batch_norm.batch_norm_analysis`, the function behind the "
        "batch-normalization view of `automl report`: a learning rate *still trains* when the "
        "trial did not diverge and reached 80% of the study's best; the target is 95% of the "
        f"study's best (median target {shown(target)}).",
        "",
        "| | highest learning rate that still trains, median [min–max] | per seed | best "
        "val_accuracy | fewest epochs to the target | median epochs to the target |",
        "| --- | --- | --- | --- | --- | --- |",
        *[_row(found, bn) for bn in (True, False)],
        "",
        f"- Higher learning rates: {counts(higher)} of {n} seeds.",
        f"- Faster convergence (fewest epochs to the target; the median breaks a tie): "
        f"{counts(faster)} of {n} seeds.",
        *_tests(found),
        "",
        "What `automl report` says about each of these studies (the same function, the same "
        "words):",
        "",
        *[f"- seed {s}: {found[s].summary}" for s in found],
        "",
        _words(higher, faster, n),
    ]
    res.plots += [
        plot_claim3_learning_rates(grid, found, plots),
        plot_claim3_curves(grid, found, plots),
    ]
    return res


def _row(found: dict[int, BatchNormFindings], bn: bool) -> str:
    stats = [found[s].with_bn if bn else found[s].without_bn for s in found]
    hi = spread(st.max_tolerated_lr for st in stats)
    best = spread(st.best_value for st in stats)
    fewest = spread(st.fewest_epochs for st in stats)
    med = spread(st.median_epochs for st in stats)
    return (
        f"| {'with BN' if bn else 'without BN'} | {shown_g(hi)} | "
        f"{per_seed(st.max_tolerated_lr for st in stats)} | "
        f"{shown(best)} | {shown_g(fewest, 'never')} | {shown_g(med)} |"
    )


def _tests(found: dict[int, BatchNormFindings]) -> list[str]:
    """With BN minus without, seed by seed, each tested: the highest learning rate that still
    trains (in decades) and the fewest epochs to the target (where both reached it)."""

    def gain(s: int, key: str) -> float | None:
        a, b = getattr(found[s].with_bn, key), getattr(found[s].without_bn, key)
        if a is None or b is None:
            return None
        return math.log10(a / b) if key == "max_tolerated_lr" else float(a - b)

    return [
        "- With BN minus without, seed by seed: highest learning rate that still trains "
        f"(decades) {paired(gain(s, 'max_tolerated_lr') for s in found)}; fewest epochs to the "
        f"target {paired(gain(s, 'fewest_epochs') for s in found)}.",
    ]


def _words(higher: Counter[str], faster: Counter[str], n: int) -> str:
    parts = []
    for what, seeds in (("higher learning rates", higher), ("faster convergence", faster)):
        word, count = seeds.most_common(1)[0]
        parts.append(
            f"{what}: {word} in {count} of {n} seeds"
            if count > n / 2
            else f"{what}: the seeds disagree with one another ({counts(seeds)})"
        )
    return (
        "**" + "; ".join(parts).capitalize() + ".** The paper's \"same accuracy in 14 times fewer "
        'steps" is an ImageNet result; here every run lasts 8 epochs of a two-block network, so '
        "what can be compared is the epochs each setting needed to reach the target within those "
        "8, and the highest learning rate at which each still trained."
    )
