"""The study file, read once into frozen, validated objects.

This is the only module that reads YAML. Everything deeper sees a `StudySpec`, never a raw
dict, and every rule a file can break is checked here, before anything trains or touches a
storage. Problems are collected, not raised one by one, so a user fixes a file in one pass.
"""

from __future__ import annotations

import math
from typing import Any

# ---------------------------------------------------------------------------- validation


class _Problems:
    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, where: str, message: str) -> None:
        self.items.append(f"{where}: {message}")


def _number(value: Any) -> float | None:
    """A YAML value as a number: numbers, and strings such as "1e-4"; never booleans."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _integer(value: Any) -> int | None:
    number = _number(value)
    if number is None or not math.isfinite(number) or number != int(number):
        return None
    return int(number)


def _fmt(value: Any) -> str:
    return (
        repr(value)
        if isinstance(value, str)
        else str(value).lower()
        if isinstance(value, bool)
        else str(value)
    )
