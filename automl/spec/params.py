"""The study file, read once into frozen, validated objects.

This is the only module that reads YAML. Everything deeper sees a `StudySpec`, never a raw
dict, and every rule a file can break is checked here, before anything trains or touches a
storage. Problems are collected, not raised one by one, so a user fixes a file in one pass.
"""

from __future__ import annotations

import math
from typing import Any

from automl.spec.problems import _fmt, _integer, _number, _Problems
from automl.spec.schema import PARAMS, Choice, Domain, Fixed, ParamDef, ParamSpec, Range, Scalar


def _check_value(
    name: str, definition: ParamDef, value: Any, where: str, problems: _Problems
) -> Scalar | None:
    """One value of a hyperparameter, converted to its kind, or None with a problem added."""
    if definition.kind == "bool":
        if isinstance(value, bool):
            return value
        problems.add(where, f"must be true or false, got {_fmt(value)}")
        return None
    if definition.kind == "choice":
        if value in definition.choices:
            return str(value)
        problems.add(where, f"must be one of {', '.join(definition.choices)}, got {_fmt(value)}")
        return None
    number = _integer(value) if definition.kind == "int" else _number(value)
    if number is None or (isinstance(number, float) and not math.isfinite(number)):
        kind = "an integer" if definition.kind == "int" else "a number"
        problems.add(where, f"must be {kind}, got {_fmt(value)}")
        return None
    if not _in_domain(definition, float(number)):
        problems.add(where, f"must be {_domain_text(definition)}, got {_fmt(value)}")
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


def _parse_param(name: str, value: Any, grid: bool, problems: _Problems) -> ParamSpec | None:
    where = f"params.{name}"
    definition = PARAMS.get(name)
    if definition is None:
        problems.add(where, f"unknown hyperparameter; known: {', '.join(PARAMS)}")
        return None
    if isinstance(value, list):
        if not value:
            problems.add(where, "an empty list; give at least one value")
            return None
        checked = [
            _check_value(name, definition, v, f"{where}[{i}]", problems)
            for i, v in enumerate(value)
        ]
        if any(c is None for c in checked):
            return None
        values = tuple(c for c in checked if c is not None)
        if len(set(values)) != len(values):
            problems.add(where, f"lists a value twice: {list(value)}")
            return None
        domain: Domain = Fixed(values[0]) if len(values) == 1 else Choice(values)
        return ParamSpec(name, definition.kind, domain)
    if isinstance(value, dict):
        return _parse_range(name, definition, value, grid, problems)
    checked_value = _check_value(name, definition, value, where, problems)
    if checked_value is None:
        return None
    return ParamSpec(name, definition.kind, Fixed(checked_value))


def _parse_range(
    name: str, definition: ParamDef, value: dict[str, Any], grid: bool, problems: _Problems
) -> ParamSpec | None:
    where = f"params.{name}"
    before = len(problems.items)
    if definition.kind not in ("float", "int"):
        problems.add(
            where, f"a {definition.kind} hyperparameter takes a value or a list, not a range"
        )
        return None
    for key in value:
        if key not in ("low", "high", "log", "scale", "step", "num"):
            problems.add(
                f"{where}.{key}", "unknown range option; known: low, high, log, scale, step, num"
            )
    for key in ("low", "high"):
        if key not in value:
            problems.add(f"{where}.{key}", "required in a range")
    if len(problems.items) > before:
        return None
    low = _check_value(name, definition, value["low"], f"{where}.low", problems)
    high = _check_value(name, definition, value["high"], f"{where}.high", problems)
    scale = value.get("scale", "log" if value.get("log") is True else "linear")
    log = value.get("log", False)
    if not isinstance(log, bool):
        problems.add(f"{where}.log", f"must be true or false, got {_fmt(log)}")
    if scale not in ("linear", "log", "log1m"):
        problems.add(f"{where}.scale", f"must be linear, log or log1m, got {_fmt(scale)}")
    if log is True and scale == "log1m":
        problems.add(f"{where}.log", "give either log: true or scale: log1m, not both")
    if len(problems.items) > before or low is None or high is None:
        return None
    lo, hi = float(low), float(high)
    if not lo < hi:
        problems.add(
            where,
            f"low must be < high, got low {_fmt(value['low'])} and high {_fmt(value['high'])}",
        )
    if scale == "log" and lo <= 0:
        problems.add(f"{where}.low", f"must be > 0 when log is true, got {_fmt(value['low'])}")
    if scale == "log1m" and not (lo >= 0 and hi < 1):
        problems.add(
            where,
            "scale log1m needs 0 <= low < high < 1, "
            f"got {_fmt(value['low'])}..{_fmt(value['high'])}",
        )
    step = None
    if value.get("step") is not None:
        step = _number(value["step"])
        if step is None or step <= 0:
            problems.add(f"{where}.step", f"must be a number > 0, got {_fmt(value['step'])}")
        elif scale != "linear":
            problems.add(f"{where}.step", f"cannot be combined with scale {scale}")
        elif definition.kind == "int" and step != int(step):
            problems.add(f"{where}.step", f"must be an integer for {name}, got {_fmt(step)}")
    num = None
    if value.get("num") is not None:
        num = _integer(value["num"])
        if num is None or num < 2:
            problems.add(f"{where}.num", f"must be an integer >= 2, got {_fmt(value['num'])}")
        elif not grid:
            problems.add(f"{where}.num", "only used with sampler: grid (points of the grid)")
        elif step is not None:
            problems.add(f"{where}.num", "give either num or step, not both")
    if grid and num is None and step is None and definition.kind == "float":
        problems.add(
            where,
            "sampler grid needs a list, or a range with num: or step:; "
            "Optuna's GridSampler cannot mix grid and non-grid parameters",
        )
    if len(problems.items) > before:
        return None
    spec = ParamSpec(name, definition.kind, Range(lo, hi, str(scale), step, num))
    if grid and len(grid_values(spec)) > 10_000:
        problems.add(where, f"spreads over {len(grid_values(spec))} grid points; give num:")
        return None
    return spec


def grid_values(p: ParamSpec) -> tuple[Scalar, ...]:
    """The values a parameter takes in a grid, spread on its scale."""
    d = p.domain
    if isinstance(d, Fixed):
        return (d.value,)
    if isinstance(d, Choice):
        return d.values
    if d.num is not None:
        n = d.num
        if d.scale == "log":
            a, b = math.log(d.low), math.log(d.high)
            raw = [math.exp(a + (b - a) * i / (n - 1)) for i in range(n)]
        elif d.scale == "log1m":
            a, b = math.log(1 - d.low), math.log(1 - d.high)
            raw = [1 - math.exp(a + (b - a) * i / (n - 1)) for i in range(n)]
        else:
            raw = [d.low + (d.high - d.low) * i / (n - 1) for i in range(n)]
        if p.kind == "int":
            return tuple(dict.fromkeys(int(round(x)) for x in raw))
        return tuple(_round_sig(x) for x in raw)
    step = d.step if d.step is not None else 1.0
    count = int(math.floor((d.high - d.low) / step + 1e-9)) + 1
    values = [d.low + i * step for i in range(count)]
    if p.kind == "int":
        return tuple(int(round(v)) for v in values)
    return tuple(_round_sig(v) for v in values)


def _round_sig(x: float) -> float:
    """Round to 12 significant digits so 1e-4..1e-1 on a log scale gives 0.001, not 0.00099999."""
    return float(f"{x:.12g}")
