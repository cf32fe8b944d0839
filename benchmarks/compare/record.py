"""What every arm's record is made of: the wall clock from its process's start, and its curve."""

from __future__ import annotations

import time
from collections.abc import Sequence


def since_process_start() -> float:
    """Seconds since this interpreter started: a hand-written script pays its imports too."""
    import psutil

    return time.time() - psutil.Process().create_time()


def curve(runs: Sequence[tuple[int, float | None]]) -> list[tuple[int, float]]:
    """(epochs trained so far, best value so far) after each trial, in the order they ran."""
    points, epochs, best = [], 0, float("-inf")
    for trial_epochs, value in runs:
        epochs += trial_epochs
        if value is not None:
            best = max(best, value)
        points.append((epochs, best))
    return points
