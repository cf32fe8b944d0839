"""The problems found in one study file, and the number reading its rules share.

A rule adds a problem and goes on, so a user sees every mistake of a file in one pass; the
messages quote a value as the file wrote it (`got 'yes'`, `got true`).
"""

from __future__ import annotations

import math
from typing import Any


class Problems:
    """The lines a SpecError will list, each `where: message`, in the order they were found."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def __len__(self) -> int:
        return len(self.items)

    def add(self, where: str, message: str) -> None:
        self.items.append(f"{where}: {message}")


def as_number(value: Any) -> float | None:
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


def as_integer(value: Any) -> int | None:
    """A YAML value as a whole number (`3`, `3.0`, `"3"`), or None."""
    number = as_number(value)
    if number is None or not math.isfinite(number) or number != int(number):
        return None
    return int(number)


def quoted(value: Any) -> str:
    """A value as a problem quotes it: strings in quotes, booleans in YAML's spelling."""
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)
