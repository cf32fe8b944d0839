"""The tables of `compare`, from its arms' records: one set per data set, every seed shown."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from benchmarks.compare.arms import ARMS, AUTOML_ARMS
from benchmarks.harness.stats import median, spread

# The baselines each automl arm is divided by, seed by seed.
BASELINES = ("optuna", "kt-hyperband")
TEST_IMAGES = "the held-out test images"


def epochs_to_reach(points: list[list[float]], target: float) -> int | None:
    for epochs, best, *_ in points:
        if best >= target - 1e-9:
            return int(epochs)
    return None


def seconds_to_reach(points: list[list[float]], target: float) -> float | None:
    """The arm's clock as its best value first met `target` (None: never)."""
    for point in points:
        if point[1] >= target - 1e-9:
            return float(point[2])
    return None


def best_by(points: list[list[float]], seconds: float) -> float | None:
    """The best value the arm had found by `seconds` on its clock (None: nothing yet)."""
    found = [p[1] for p in points if p[2] <= seconds + 1e-9 and p[1] > -math.inf]
    return max(found) if found else None


def table(records: Sequence[dict[str, Any]]) -> str:
    """The tables of every data set in the records, one data set after another."""
    if not records:
        return "no compare records"
    by_dataset: dict[tuple[str, int | None], list[dict[str, Any]]] = {}
    for r in records:
        by_dataset.setdefault((r["dataset"], r["max_samples"]), []).append(r)
    return "\n\n".join(
        f"Data set: {name}, "
        + (f"max_samples {n}" if n is not None else "all training images")
        + f"\n\n{_dataset_table(by_dataset[name, n])}"
        for name, n in sorted(by_dataset, key=lambda k: (k[0], k[1] or 0))
    )


def _by_arm(records: Sequence[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    by_arm: dict[str, list[dict[str, Any]]] = {}
    for r in sorted(records, key=lambda r: r["seed"]):
        by_arm.setdefault(r["arm"], []).append(r)
    return dict(sorted(by_arm.items(), key=lambda kv: ARMS.index(kv[0])))


def _dataset_table(records: Sequence[dict[str, Any]]) -> str:
    by_arm = _by_arm(records)
    lines = [
        "Each cell: median [min–max] over the seeds; load: the machine's 1-minute load average "
        "as the arm ended.",
        "",
        "| arm | seeds | wall s | epochs | s / epoch | trials | best val acc | test acc | load |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for arm, rs in by_arm.items():
        lines.append(
            f"| {arm} | {','.join(str(r['seed']) for r in rs)} "
            f"| {spread([r['seconds'] for r in rs], '.1f')} "
            f"| {spread([r['epochs'] for r in rs], '.0f')} "
            f"| {spread([r['seconds'] / r['epochs'] for r in rs], '.3f')} "
            f"| {spread([r['trials'] for r in rs], '.0f')} "
            f"| {spread([r['best_val'] for r in rs], '.4f')} "
            f"| {spread([r['test_acc'] for r in rs], '.4f')} "
            f"| {spread([r['load'] for r in rs], '.1f')} |"
        )
    parts = [*lines, "", _ratios(by_arm), "", _parts(by_arm), "", _race(by_arm), ""]
    parts.append(_grid_match(by_arm))
    return "\n".join(parts).rstrip()


def _ratios(by_arm: dict[str, list[dict[str, Any]]]) -> str:
    """Each automl arm's wall over each baseline's, seed by seed: the same seed, the same data."""
    present = [b for b in BASELINES if b in by_arm]
    if not present:
        return ""
    lines = [
        "Wall-clock ratios, seed by seed (seed: ratio), and their median:",
        "",
        "| arm | " + " | ".join(f"÷ {b}" for b in present) + " |",
        "| --- | " + " | ".join("---" for _ in present) + " |",
    ]
    for arm in (a for a in AUTOML_ARMS if a in by_arm):
        cells = []
        for base in present:
            seconds = {r["seed"]: r["seconds"] for r in by_arm[base]}
            pairs = [
                (r["seed"], r["seconds"] / seconds[r["seed"]])
                for r in by_arm[arm]
                if r["seed"] in seconds
            ]
            shown = ", ".join(f"{s}: {v:.2f}" for s, v in pairs)
            cells.append(f"{median([v for _, v in pairs]):.2f} ({shown})" if pairs else "-")
        lines.append(f"| {arm} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _parts(by_arm: dict[str, list[dict[str, Any]]]) -> str:
    """Each automl arm's wall ratio to the Optuna script taken apart, seed by seed: the epochs
    it trained over the script's, and its seconds per epoch (fixed costs spread over them)."""
    if "optuna" not in by_arm:
        return ""
    script = {r["seed"]: r for r in by_arm["optuna"]}
    lines = [
        "Each automl arm against the Optuna script, seed by seed (seed: epochs ratio × seconds "
        "per epoch ratio = wall ratio):",
        "",
        "| arm | epochs × s / epoch = wall |",
        "| --- | --- |",
    ]
    for arm in (a for a in AUTOML_ARMS if a in by_arm):
        cells = []
        for r in (r for r in by_arm[arm] if r["seed"] in script):
            o = script[r["seed"]]
            epochs, wall = r["epochs"] / o["epochs"], r["seconds"] / o["seconds"]
            cells.append(f"{r['seed']}: {epochs:.2f} × {wall / epochs:.2f} = {wall:.2f}")
        lines.append(f"| {arm} | {'; '.join(cells)} |")
    return "\n".join(lines)


def _race(by_arm: dict[str, list[dict[str, Any]]]) -> str:
    """Seed by seed, on each arm's own clock: how long it took to find a model as good as the
    weakest arm's best (a target every arm meets), and the best it had when the quickest arm
    had ended (the same wall for every arm)."""
    seeds = sorted({r["seed"] for rs in by_arm.values() for r in rs})
    rows = []
    for seed in seeds:
        ran = {a: r for a, rs in by_arm.items() for r in rs if r["seed"] == seed}
        if len(ran) < 2 or any(len(r["curve"][0]) < 3 for r in ran.values() if r["curve"]):
            continue  # a record from before the arms kept their clocks
        target = min(r["best_val"] for r in ran.values())
        wall = min(r["seconds"] for r in ran.values())
        for arm, r in ran.items():
            reached = seconds_to_reach(r["curve"], target)
            best = best_by(r["curve"], wall)
            rows.append(
                f"| {seed} | {arm} | {target:.4f} | "
                + (f"{reached:.1f}" if reached is not None else "not reached")
                + f" | {wall:.1f} | "
                + (f"{best:.4f}" if best is not None else "-")
                + " |"
            )
    if not rows:
        return ""
    head = [
        "Seed by seed: seconds to a best val acc as good as the weakest arm's best (the target), "
        "and the best val acc each arm had found when the quickest arm had ended (the wall), "
        "each on its own clock:",
        "",
        "| seed | arm | target | s to target | wall s | best val acc at that wall |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    return "\n".join([*head, *rows])


def _grid_match(by_arm: dict[str, list[dict[str, Any]]]) -> str:
    """Epochs each search needed to reach the grid's best validation accuracy (same seed)."""
    grids = {r["seed"]: r for r in by_arm.get("grid", [])}
    if not grids:
        return ""
    lines = [
        "| arm | seed | grid best val | grid epochs | epochs to reach it | share of grid's |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for arm in (a for a in by_arm if a != "grid"):
        for r in by_arm[arm]:
            g = grids.get(r["seed"])
            if g is None:
                continue
            reached = epochs_to_reach(r["curve"], g["best_val"])
            share = f"{reached / g['epochs']:.2f}" if reached is not None else "not reached"
            lines.append(
                f"| {arm} | {r['seed']} | {g['best_val']:.4f} | {g['epochs']} "
                f"| {reached if reached is not None else '-'} | {share} |"
            )
    return "\n".join(lines)
