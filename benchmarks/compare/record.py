"""What every arm's record is made of: the wall clock from its process's start, and its curve."""

from __future__ import annotations

import time
from collections.abc import Sequence


def since_process_start() -> float:
    """Seconds since this interpreter started: a hand-written script pays its imports too."""
    import psutil

    return time.time() - psutil.Process().create_time()


def curve(runs: Sequence[tuple[int, float | None, float]]) -> list[tuple[int, float, float]]:
    """(epochs trained so far, best value so far, seconds on the arm's clock) after each trial,
    given (epochs, value or None, seconds on the clock as it ended) in the order they ended."""
    points, epochs, best = [], 0, float("-inf")
    for trial_epochs, value, seconds in runs:
        epochs += trial_epochs
        if value is not None:
            best = max(best, value)
        points.append((epochs, best, seconds))
    return points
