"""One hyperparameter of a study file: its value, list or range checked against `PARAMS`.

A value is checked against the parameter's kind and domain; a list becomes a choice (a list of
one value, a fixed value); a mapping becomes a range whose options (`scale`, `step`, `num`) are
checked together, since each limits the others. `grid_values` spreads a range into the points
a grid visits, and `grid_count` counts them without spreading them.
"""

from __future__ import annotations

import math
from typing import Any

from automl.spec.problems import Problems, as_integer, as_number, quoted
from automl.spec.schema import PARAMS, Choice, Domain, Fixed, ParamDef, ParamSpec, Range, Scalar

RANGE_OPTIONS = ("low", "high", "log", "scale", "step", "num")
SCALES = ("linear", "log", "log1m")
# A grid past this many points on one parameter is a mistake (a tiny step), not a search; past
# this many cells in all, a study that would not end (GridSampler lists every cell up front).
MAX_GRID_POINTS = 10_000
MAX_GRID_CELLS = 100_000


def param_spec(name: str, value: Any, grid: bool, problems: Problems) -> ParamSpec | None:
    """`params.NAME`'s raw value -> its ParamSpec, or None with the problems added."""
    where = f"params.{name}"
    definition = PARAMS.get(name)
    if definition is None:
        problems.add(where, f"unknown hyperparameter; known: {', '.join(PARAMS)}")
        return None
    if isinstance(value, list):
        return _parse_list(name, definition, value, problems)
    if isinstance(value, dict):
        return _parse_range(name, definition, value, grid, problems)
    checked = _check_value(definition, value, where, problems)
    if checked is None:
        return None
    return ParamSpec(name, definition.kind, Fixed(checked))


def _parse_list(
    name: str, definition: ParamDef, value: list[Any], problems: Problems
) -> ParamSpec | None:
    where = f"params.{name}"
    if not value:
        problems.add(where, "an empty list; give at least one value")
        return None
    checked = [_check_value(definition, v, f"{where}[{i}]", problems) for i, v in enumerate(value)]
    if any(c is None for c in checked):
        return None
    values = tuple(c for c in checked if c is not None)
    if len(set(values)) != len(values):
        problems.add(where, f"lists a value twice: {quoted(list(value))}")
        return None
    domain: Domain = Fixed(values[0]) if len(values) == 1 else Choice(values)
    return ParamSpec(name, definition.kind, domain)


def _check_value(definition: ParamDef, value: Any, where: str, problems: Problems) -> Scalar | None:
    """One value of a hyperparameter, converted to its kind, or None with a problem added."""
    if definition.kind == "bool":
        if isinstance(value, bool):
            return value
        problems.add(where, f"must be true or false, got {quoted(value)}")
        return None
    if definition.kind == "choice":
        if value in definition.choices:
            return str(value)
        problems.add(where, f"must be one of {', '.join(definition.choices)}, got {quoted(value)}")
        return None
    number = as_integer(value) if definition.kind == "int" else as_number(value)
    if number is None or (isinstance(number, float) and not math.isfinite(number)):
        kind = "an integer" if definition.kind == "int" else "a number"
        problems.add(where, f"must be {kind}, got {quoted(value)}")
        return None
    if not _in_domain(definition, float(number)):
        problems.add(where, f"must be {_domain_text(definition)}, got {quoted(value)}")
        return None
    return number


def _in_domain(d: ParamDef, x: float) -> bool:
    if d.low is not None and (x < d.low or (d.low_open and x == d.low)):
        return False
    return not (d.high is not None and (x > d.high or (d.high_open and x == d.high)))


def _domain_text(d: ParamDef) -> str:
    parts = []
    if d.low is not None:
        parts.append(f"{'>' if d.low_open else '>='} {_short(d.low)}")
    if d.high is not None:
        parts.append(f"{'<' if d.high_open else '<='} {_short(d.high)}")
    return " and ".join(parts) or "a number"


def _short(x: float) -> str:
    return str(int(x)) if x == int(x) else str(x)


# ---------------------------------------------------------------------------- ranges


def _parse_range(
    name: str, definition: ParamDef, value: dict[str, Any], grid: bool, problems: Problems
) -> ParamSpec | None:
    """A range mapping; each stage runs only when the one before it found nothing wrong."""
    where = f"params.{name}"
    before = len(problems)
    if definition.kind not in ("float", "int"):
        problems.add(
            where, f"a {definition.kind} hyperparameter takes a value or a list, not a range"
        )
        return None
    _check_range_options(where, value, problems)
    if len(problems) > before:
        return None
    low = _check_value(definition, value["low"], f"{where}.low", problems)
    high = _check_value(definition, value["high"], f"{where}.high", problems)
    scale = _range_scale(where, value, problems)
    if len(problems) > before or low is None or high is None:
        return None
    _check_ends(where, value, float(low), float(high), scale, problems)
    step = _range_step(where, name, definition.kind, value, scale, problems)
    num = _range_num(where, value, grid, step, problems)
    if grid and num is None and step is None and definition.kind == "float":
        problems.add(
            where,
            "sampler grid needs a list, or a range with num: or step:; "
            "Optuna's GridSampler cannot mix grid and non-grid parameters",
        )
    if len(problems) > before:
        return None
    spec = ParamSpec(name, definition.kind, Range(float(low), float(high), scale, step, num))
    if grid:
        points = grid_count(spec)
        if points > MAX_GRID_POINTS:
            problems.add(
                where,
                f"spreads over {count_text(points)} grid points, more than the cap of "
                f"{MAX_GRID_POINTS}; give num: or a larger step:",
            )
            return None
    return spec


def _check_range_options(where: str, value: dict[str, Any], problems: Problems) -> None:
    for key in value:
        if key not in RANGE_OPTIONS:
            problems.add(
                f"{where}.{key}", f"unknown range option; known: {', '.join(RANGE_OPTIONS)}"
            )
    for key in ("low", "high"):
        if key not in value:
            problems.add(f"{where}.{key}", "required in a range")


def _range_scale(where: str, value: dict[str, Any], problems: Problems) -> str:
    """The range's scale: `scale:`, else log with `log: true`, else linear."""
    log = value.get("log", False)
    scale = value.get("scale", "log" if log is True else "linear")
    if not isinstance(log, bool):
        problems.add(f"{where}.log", f"must be true or false, got {quoted(log)}")
    if scale not in SCALES:
        problems.add(f"{where}.scale", f"must be linear, log or log1m, got {quoted(scale)}")
    if log is True and scale == "log1m":
        problems.add(f"{where}.log", "give either log: true or scale: log1m, not both")
    return str(scale)


def _check_ends(
    where: str, value: dict[str, Any], low: float, high: float, scale: str, problems: Problems
) -> None:
    if not low < high:
        problems.add(
            where,
            f"low must be < high, got low {quoted(value['low'])} and high {quoted(value['high'])}",
        )
    if scale == "log" and low <= 0:
        problems.add(f"{where}.low", f"must be > 0 when log is true, got {quoted(value['low'])}")
    if scale == "log1m" and not (low >= 0 and high < 1):
        problems.add(
            where,
            "scale log1m needs 0 <= low < high < 1, "
            f"got {quoted(value['low'])}..{quoted(value['high'])}",
        )


def _range_step(
    where: str, name: str, kind: str, value: dict[str, Any], scale: str, problems: Problems
) -> float | None:
    if value.get("step") is None:
        return None
    step = as_number(value["step"])
    if step is None or step <= 0:
        problems.add(f"{where}.step", f"must be a number > 0, got {quoted(value['step'])}")
    elif scale != "linear":
        problems.add(f"{where}.step", f"cannot be combined with scale {scale}")
    elif kind == "int" and step != int(step):
        problems.add(f"{where}.step", f"must be an integer for {name}, got {quoted(step)}")
    return step


def _range_num(
    where: str, value: dict[str, Any], grid: bool, step: float | None, problems: Problems
) -> int | None:
    if value.get("num") is None:
        return None
    num = as_integer(value["num"])
    if num is None or not 2 <= num <= MAX_GRID_POINTS:
        problems.add(
            f"{where}.num",
            f"must be an integer from 2 to {MAX_GRID_POINTS}, got {quoted(value['num'])}",
        )
    elif not grid:
        problems.add(f"{where}.num", "only used with sampler: grid (points of the grid)")
    elif step is not None:
        problems.add(f"{where}.num", "give either num or step, not both")
    return num


# ---------------------------------------------------------------------------- grids


def grid_count(p: ParamSpec) -> int:
    """How many values `grid_values` gives, counted (not spread) when they are many."""
    d = p.domain
    if isinstance(d, Fixed):
        return 1
    if isinstance(d, Choice):
        return len(d.values)
    most = d.num if d.num is not None else _step_count(d)
    return most if most > MAX_GRID_POINTS else len(grid_values(p))


def count_text(n: int) -> str:
    """A count as a message gives it: in full, or as 1e+300 past fifteen digits."""
    return str(n) if n < 10**15 else f"{float(n):.3g}"


def grid_values(p: ParamSpec) -> tuple[Scalar, ...]:
    """The values a parameter takes in a grid, spread on its scale."""
    d = p.domain
    if isinstance(d, Fixed):
        return (d.value,)
    if isinstance(d, Choice):
        return d.values
    points = _spread(d, d.num) if d.num is not None else _steps(d)
    if p.kind == "int":
        return tuple(dict.fromkeys(int(round(x)) for x in points))
    return tuple(_round_sig(x) for x in points)


def _spread(d: Range, n: int) -> list[float]:
    """`num: n` points from low to high, evenly spaced on the range's scale."""
    if d.scale == "log":
        a, b = math.log(d.low), math.log(d.high)
        return [math.exp(a + (b - a) * i / (n - 1)) for i in range(n)]
    if d.scale == "log1m":
        a, b = math.log(1 - d.low), math.log(1 - d.high)
        return [1 - math.exp(a + (b - a) * i / (n - 1)) for i in range(n)]
    return [d.low + (d.high - d.low) * i / (n - 1) for i in range(n)]


def _steps(d: Range) -> list[float]:
    """low, low + step, ... up to high (step 1 when the range gives none: an integer range)."""
    step = d.step if d.step is not None else 1.0
    return [d.low + i * step for i in range(_step_count(d))]


def _step_count(d: Range) -> int:
    """How many steps `_steps` takes (a huge ratio held below a float's overflow)."""
    step = d.step if d.step is not None else 1.0
    return int(math.floor(min((d.high - d.low) / step, 1e300) + 1e-9)) + 1


def _round_sig(x: float) -> float:
    """Round to 12 significant digits so 1e-4..1e-1 on a log scale gives 0.001, not 0.00099999."""
    return float(f"{x:.12g}")
