"""The problems found in one study file, and the number reading its rules share.

A rule adds a problem and goes on, so a user sees every mistake of a file in one pass; the
messages quote a value as the file wrote it (`got 'yes'`, `got true`), cut to QUOTED characters
so that a huge value never makes a huge message.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

QUOTED = 80  # characters of a value, a key or a path a problem quotes


class Problems:
    """The lines a SpecError will list, each `where: message`, in the order they were found."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def __len__(self) -> int:
        return len(self.items)

    def add(self, where: str, message: str) -> None:
        self.items.append(printable(f"{clip(where)}: {message}"))


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
        return clip(repr(value))
    if isinstance(value, bool):
        return str(value).lower()
    return clip(str(value))


def clip(text: str, limit: int = QUOTED) -> str:
    """`text`, or its first `limit` characters and an ellipsis."""
    return text if len(text) <= limit else f"{text[: limit - 1]}…"


def printable(text: str) -> str:
    """`text` on one line: a newline, a tab or another unprintable character as its escape."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def choice(
    mapping: Mapping[str, Any],
    key: str,
    allowed: tuple[str, ...],
    default: str,
    problems: Problems,
    where: str = "",
) -> str:
    """mapping[key], one of `allowed` (absent: `default`); else a problem, and `default`."""
    value = mapping.get(key, default)
    if value not in allowed:
        names = " or ".join(allowed) if len(allowed) == 2 else f"one of {', '.join(allowed)}"
        problems.add(where or key, f"must be {names}, got {quoted(value)}")
        return default
    return str(value)


def whole_number(
    mapping: Mapping[str, Any],
    key: str,
    least: int,
    default: int | None,
    problems: Problems,
    where: str = "",
    most: int | None = None,
) -> int | None:
    """mapping[key] as an integer from least to most (absent or null: `default`); else a problem."""
    if mapping.get(key) is None:
        return default
    value = as_integer(mapping[key])
    if value is None or value < least or (most is not None and value > most):
        text = f">= {least}" if most is None else f"from {least} to {most}"
        problems.add(where or key, f"must be an integer {text}, got {quoted(mapping[key])}")
        return default
    return value
