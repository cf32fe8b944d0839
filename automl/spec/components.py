"""The sampler and pruner fields of a study file: a name from SAMPLERS or PRUNERS, and its
options, each of the type its table gives (numbers as YAML spells them too).
"""

from __future__ import annotations

from typing import Any

from automl.spec.problems import Problems, as_integer, as_number, quoted
from automl.spec.schema import PRUNERS, SAMPLERS, Component, Options

OptionTable = dict[str, dict[str, type | tuple[type, ...]]]


def parse_sampler(value: Any, problems: Problems) -> Component:
    """The `sampler:` field: a name from SAMPLERS, or a mapping of its name and options."""
    return _parse_component(value, "sampler", SAMPLERS, problems)


def parse_pruner(value: Any, problems: Problems) -> Component:
    """The `pruner:` field, with the options some pruners cannot do without."""
    pruner = _parse_component(value, "pruner", PRUNERS, problems)
    options = pruner.options.kwargs()
    if pruner.name == "patient" and "patience" not in options:
        problems.add("pruner.patience", "required for the patient pruner (epochs without gain)")
    if pruner.name == "threshold" and not {"lower", "upper"} & set(options):
        problems.add("pruner", "the threshold pruner needs lower or upper")
    wrapped = options.get("wrapped")
    if wrapped is not None and wrapped not in ("median", "none"):
        problems.add("pruner.wrapped", f"must be median or none, got {quoted(wrapped)}")
    return pruner


def _parse_component(value: Any, where: str, table: OptionTable, problems: Problems) -> Component:
    """A sampler or pruner: a name from `table`, or a mapping of its name and options."""
    if isinstance(value, str):
        value = {"name": value}
    if not isinstance(value, dict):
        problems.add(where, f"must be a name or a mapping with name:, got {quoted(value)}")
        return Component(next(iter(table)))
    name = value.get("name")
    if name not in table:
        problems.add(
            f"{where}.name" if "name" in value and len(value) > 1 else where,
            f"must be one of {', '.join(table)}, got {quoted(name)}",
        )
        return Component(next(iter(table)))
    allowed = table[name]
    items: list[tuple[str, Any]] = []
    for key, option in value.items():
        if key == "name":
            continue
        if key not in allowed:
            known = ", ".join(allowed) or "none"
            problems.add(f"{where}.{key}", f"unknown option for {name}; known: {known}")
            continue
        checked = _component_option(f"{where}.{key}", option, allowed[key], problems)
        if checked is not None:
            items.append((key, checked))
    return Component(str(name), Options(tuple(items)))


def _component_option(
    where: str, option: Any, expected: type | tuple[type, ...], problems: Problems
) -> Any:
    """An option of the type its table gives (numbers as YAML spells them), or None."""
    if expected in (int, float) or expected == (int, float):
        number = as_integer(option) if expected is int else as_number(option)
        if number is None:
            kind = "an integer" if expected is int else "a number"
            problems.add(where, f"must be {kind}, got {quoted(option)}")
        return number
    if not isinstance(option, expected):
        kind = getattr(expected, "__name__", str(expected))
        problems.add(where, f"must be {kind}, got {quoted(option)}")
        return None
    return option
