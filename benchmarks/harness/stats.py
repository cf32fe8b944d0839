"""How the benchmarks summarize seeds: the median, and min–median–max with every value kept."""

from __future__ import annotations

import math
from collections.abc import Iterable


def finite(values: Iterable[float | None]) -> list[float]:
    return sorted(v for v in values if v is not None and not math.isnan(v))


def median(values: Iterable[float | None]) -> float:
    kept = finite(values)
    if not kept:
        return math.nan
    mid = len(kept) // 2
    return kept[mid] if len(kept) % 2 else (kept[mid - 1] + kept[mid]) / 2


def spread(values: Iterable[float | None], fmt: str = ".2f") -> str:
    """`median [min–max]`, or the one value; `-` when there is none."""
    kept = finite(values)
    if not kept:
        return "-"
    if len(kept) == 1:
        return format(kept[0], fmt)
    return f"{format(median(kept), fmt)} [{format(kept[0], fmt)}–{format(kept[-1], fmt)}]"
