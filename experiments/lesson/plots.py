"""The page's figures, one PNG each, drawn with matplotlib from the trials of every seed."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from experiments.lesson.betas import greek, horizon, pairs_effects
from experiments.lesson.trials import anytime, best_reached, finished, hp

if TYPE_CHECKING:
    from optuna.trial import FrozenTrial

    from automl.report.batch_norm import BatchNormFindings

BySeed = dict[int, list["FrozenTrial"]]
RED, BLUE = "#d62728", "#1f77b4"


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    _pyplot().close(fig)
    return path.name


def _scatter_best(
    ax: Any,
    by_seed: BySeed,
    seeds: list[int],
    x_of: Callable[[FrozenTrial], float],
    label: str,
    color: str,
) -> None:
    """Every finished trial of every seed: x_of(trial) against the best value it reached."""
    pts = [(x_of(t), best_reached(t)) for s in seeds for t in finished(by_seed[s])]
    pts = [(x, y) for x, y in pts if y is not None]
    ax.scatter([p[0] for p in pts], [p[1] for p in pts], s=18, alpha=0.7, label=label, color=color)


def _learning_rate(t: FrozenTrial) -> float:
    return float(hp(t, "learning_rate"))


def _beta2_horizon(t: FrozenTrial) -> float:
    return horizon(float(hp(t, "beta_2")))


def plot_claim1(
    lin: BySeed, log: BySeed, seeds: list[int], shares: dict[str, list[float]], plots: Path
) -> str:
    """Where each scale's learning rates fell, and what each trial reached."""
    plt = _pyplot()
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.8))
    labels = ["1e-4..1e-3", "1e-3..1e-2", "1e-2..1e-1"]
    xs = range(len(labels))
    for i, (key, color) in enumerate((("linear", RED), ("log", BLUE))):
        a.bar([x + (i - 0.5) * 0.38 for x in xs], shares[key], width=0.38, label=key, color=color)
    a.set_xticks(list(xs), labels)
    a.set_ylabel("share of trials (all seeds)")
    a.set_title("Where the learning rates tried fell")
    a.legend()
    for key, by_seed, color in (("linear", lin, RED), ("log", log, BLUE)):
        _scatter_best(b, by_seed, seeds, _learning_rate, key, color)
    b.set_xscale("log")
    b.set_xlabel("learning rate")
    b.set_ylabel("best val_accuracy reached")
    b.set_title("Every trial, all seeds")
    b.legend()
    return _save(fig, plots / "claim1-learning-rate.png")


def plot_claim2(lin: BySeed, log: BySeed, seeds: list[int], plots: Path) -> str:
    """The β2 each scale tried, and what each trial reached against its horizon."""
    plt = _pyplot()
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.8))
    for i, (key, by_seed, color) in enumerate((("linear", lin, RED), ("log1m", log, BLUE))):
        hs = [_beta2_horizon(t) for s in seeds for t in finished(by_seed[s])]
        a.scatter(hs, [i] * len(hs), s=22, alpha=0.6, color=color)
        _scatter_best(b, by_seed, seeds, _beta2_horizon, key, color)
    a.set_yticks([0, 1], ["linear", "log1m"])
    a.set_ylim(-0.5, 1.5)
    for ax in (a, b):
        ax.set_xscale("log")
        ax.set_xlabel("1/(1 − β2): steps the average spans")
    a.set_title("β2 tried (all seeds)")
    b.set_ylabel("best val_accuracy reached")
    b.set_title("Result against 1/(1 − β2)")
    b.legend()
    return _save(fig, plots / "claim2-beta2.png")


def plot_pairs(pairs: BySeed, plots: Path) -> str:
    """How much each of the lesson's β steps moved the result, per β, with each seed a dot."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 3.8))
    width = 0.38
    groups = {"small": "0.9 → 0.9005", "large": "0.999 → 0.9995", "noise": "noise near 1"}
    for i, (name, per_seed) in enumerate(pairs_effects(pairs).items()):
        color = ("#9467bd", "#8c564b")[i]
        for j, key in enumerate(groups):
            ys = [e[key] for e in per_seed if e[key] is not None]
            x = j + (i - 0.5) * width
            ax.bar(
                x,
                statistics.median(ys) if ys else 0,
                width=width,
                color=color,
                label=greek(name) if j == 0 else None,
            )
            ax.scatter([x] * len(ys), ys, color="k", s=10, zorder=3)
    ax.set_xticks(range(len(groups)), list(groups.values()))
    ax.set_ylabel("mean |Δ val_accuracy|")
    ax.set_title("How much the lesson's β steps move the result (dots: seeds)")
    ax.legend()
    return _save(fig, plots / "claim2-beta-steps.png")


def _with_bn(t: FrozenTrial) -> bool:
    return bool(hp(t, "batch_norm"))


def plot_claim3_learning_rates(
    grid: BySeed, found: dict[int, BatchNormFindings], plots: Path
) -> str:
    """The best value each learning rate reached, with and without BN, against the threshold
    of still training."""
    plt = _pyplot()
    colors = {True: "#ff7f0e", False: "#2ca02c"}
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for bn in (True, False):
        by_lr: dict[float, list[float]] = {}
        for t in (t for trials in grid.values() for t in trials if _with_bn(t) == bn):
            v = best_reached(t)
            by_lr.setdefault(_learning_rate(t), []).append(v if v is not None else 0.0)
        lrs = sorted(by_lr)
        ax.plot(
            lrs,
            [statistics.median(by_lr[x]) for x in lrs],
            "o-",
            color=colors[bn],
            label="with BN" if bn else "without BN",
        )
        ax.fill_between(
            lrs,
            [min(by_lr[x]) for x in lrs],
            [max(by_lr[x]) for x in lrs],
            color=colors[bn],
            alpha=0.2,
        )
    threshold = statistics.median(f.threshold for f in found.values())
    ax.axhline(threshold, ls="--", color="#888", lw=1)
    ax.text(1e-4, threshold + 0.01, "still trains above (80% of best)", fontsize=8, color="#555")
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("best val_accuracy reached")
    ax.set_title("Learning rates that still train (median; band: min–max over seeds)")
    ax.legend()
    return _save(fig, plots / "claim3-learning-rates.png")


def plot_claim3_curves(grid: BySeed, found: dict[int, BatchNormFindings], plots: Path) -> str:
    """The median learning curve of each learning rate, with BN and without."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    cmap = plt.get_cmap("viridis")
    lrs = sorted({_learning_rate(t) for ts in grid.values() for t in ts})
    target = statistics.median(f.target for f in found.values())
    for ax, bn in zip(axes, (True, False), strict=True):
        for i, lr in enumerate(lrs):
            curves = [
                t.intermediate_values
                for ts in grid.values()
                for t in ts
                if _with_bn(t) == bn and _learning_rate(t) == lr and t.intermediate_values
            ]
            if not curves:
                continue
            steps = sorted({s for c in curves for s in c})
            ys = [statistics.median([c[s] for c in curves if s in c]) for s in steps]
            ax.plot(steps, ys, "-o", ms=3, color=cmap(i / max(1, len(lrs) - 1)), label=f"{lr:.3g}")
        ax.axhline(target, ls=":", color="#555", lw=1)
        ax.set_title(("With" if bn else "Without") + " BN: median curve per learning rate")
        ax.set_xlabel("epoch")
    axes[0].set_ylabel("val_accuracy (dotted: target)")
    axes[1].legend(title="learning rate", fontsize=7, ncol=2)
    return _save(fig, plots / "claim3-curves.png")


def plot_claim4(grid: BySeed, smart: BySeed, seeds: list[int], plots: Path) -> str:
    """The best value so far against the epochs trained so far, one line per search and seed."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    finals = []
    for key, by_seed, color in (("full grid", grid, RED), ("TPE + Hyperband", smart, BLUE)):
        for i, s in enumerate(seeds):
            pts = anytime(by_seed[s])
            finals += [p[1] for p in pts[-1:]]
            ax.step(
                [p[0] for p in pts],
                [p[1] for p in pts],
                where="post",
                color=color,
                alpha=0.8,
                label=key if i == 0 else None,
            )
    if finals:  # the early, poor trials would squash the part that tells the searches apart
        ax.set_ylim(max(0.0, min(finals) - 0.05), min(1.0, max(finals) + 0.01))
    ax.set_xlabel("epochs trained, all trials together")
    ax.set_ylabel("best val_accuracy so far")
    ax.set_title("Best value against compute (one line per seed)")
    ax.legend()
    return _save(fig, plots / "claim4-compute.png")
