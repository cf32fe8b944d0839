"""`python -m benchmarks.hot_path`: the parts (all, or `--only` some) and their record."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

from benchmarks.harness import records
from benchmarks.hot_path import autotune, memory, startup, training

PARTS = (
    "startup",
    "mlflow",
    "clear_session",
    "steps_per_execution",
    "fused_adam",
    "best_epoch",
    "autotune",
)
QUESTION = "What would each candidate change to automl's hot path save?"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.hot_path", description=QUESTION)
    parser.add_argument("--models", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--only", nargs="+", choices=PARTS, help="run these parts alone")
    args = parser.parse_args(argv)
    parts: dict[str, Callable[[], Any]] = {
        "startup": startup.startup,
        "mlflow": lambda: startup.mlflow_per_trial(20, args.epochs),
        "clear_session": lambda: memory.clear_session_cost(args.models, args.epochs),
        "steps_per_execution": lambda: training.steps_per_execution(args.models, args.epochs),
        "fused_adam": lambda: training.fused_adam(args.models, args.epochs),
        "best_epoch": lambda: training.best_epoch_copy(args.models),
        "autotune": lambda: autotune.autotune(args.models, args.epochs),
    }
    started = time.perf_counter()
    data = {}
    with records.teed() as shown:
        print(f"{args.models} models of {args.epochs} epochs per part\n")
        for name in args.only or PARTS:
            data[name] = parts[name]()
            print()
    records.save("hot_path", shown.getvalue(), data, QUESTION, started, argv)


if __name__ == "__main__":
    main()
