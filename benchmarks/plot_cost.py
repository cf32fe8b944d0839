"""CPU a learning-curve plot costs the plotter process: a new figure per plot against the one
figure the process keeps and draws again (what `automl.plot_learning_curves` does).

A worker's plotter shares the machine's cores with the workers, so its CPU time is what two
workers on two cores take from each other. Histories of 1, 3 and 12 epochs: most trials of a
pruned study stop at the first rungs.

    python -m benchmarks.plot_cost
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from automl.tracking.curves import Curves, plot_learning_curves
from benchmarks.harness import records, stats


def history(epochs: int) -> list[dict[str, float]]:
    """Curves shaped like a training run's: loss falling, accuracy rising."""
    return [
        {
            "loss": 2.0 * math.exp(-e / 3),
            "val_loss": 2.1 * math.exp(-e / 3.5),
            "accuracy": 1 - 0.9 * math.exp(-e / 2),
            "val_accuracy": 1 - 0.85 * math.exp(-e / 2.5),
        }
        for e in range(epochs)
    ]


Draw = Callable[[list[dict[str, float]], Path, str], Path]


def cpu_seconds(draws: list[Draw], epochs: int, plots: int, folder: Path) -> list[list[float]]:
    """CPU seconds of every plot by each way, the ways taking turns plot by plot so that a
    drift in the machine's speed hits them alike."""
    times: list[list[float]] = [[] for _ in draws]
    for i in range(plots):
        for draw, spent in zip(draws, times, strict=True):
            start = time.process_time()
            draw(history(epochs), folder / f"{i % 2}.png", f"study trial {i}")
            spent.append(time.process_time() - start)
    return times


QUESTION = "What CPU does a learning-curve plot cost, a new figure each time or one drawn again?"
EPOCHS = (1, 3, 12)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=QUESTION)
    parser.add_argument("--plots", type=int, default=20, help="plots per case")
    args = parser.parse_args(argv)
    started = time.perf_counter()

    def fresh(h: list[dict[str, float]], path: Path, title: str) -> Path:
        return Curves().draw(h, path, title)

    # Both pay matplotlib's first import and font cache before anything is timed.
    with tempfile.TemporaryDirectory(prefix="bench-plot-") as tmp:
        folder = Path(tmp)
        fresh(history(2), folder / "warm.png", "warm")
        plot_learning_curves(history(2), folder / "warm.png", "warm")
        data = {
            str(epochs): dict(
                zip(
                    ("new_figure_s", "drawn_again_s"),
                    cpu_seconds([fresh, plot_learning_curves], epochs, args.plots, folder),
                    strict=True,
                )
            )
            for epochs in EPOCHS
        }
    with records.teed() as shown:
        report(data, args.plots)
    records.save("plot_cost", shown.getvalue(), data, QUESTION, started, argv)


def report(data: dict[str, dict[str, list[float]]], plots: int) -> None:
    print(f"CPU seconds of one plot, {plots} plots per case; the ratio is of the medians\n")
    print("| epochs | new figure per plot, CPU s | one figure drawn again, CPU s | ratio |")
    print("| --- | --- | --- | --- |")
    for epochs, case in data.items():
        a, b = case["new_figure_s"], case["drawn_again_s"]
        ratio = stats.median(b) / stats.median(a)
        print(f"| {epochs} | {stats.spread(a, '.3f')} | {stats.spread(b, '.3f')} | {ratio:.2f} |")


if __name__ == "__main__":
    main()
