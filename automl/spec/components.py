"""The sampler and pruner fields of a study file: a name from SAMPLERS or PRUNERS, and its
options, each of the type its table gives (numbers as YAML spells them too) and within the
values Optuna's class accepts, so that no trial fails on an option the file let through.
"""

from __future__ import annotations

import math
from typing import Any

from automl.spec.problems import Problems, as_integer, as_number, quoted
from automl.spec.schema import PRUNERS, SAMPLERS, Component, Options

OptionTable = dict[str, dict[str, type | tuple[type, ...]]]

MAX_SEED = 2**32 - 1  # NumPy's seeds, which Optuna's samplers take
# The least and the most value Optuna takes for an option, whichever sampler or pruner has it.
BOUNDS: dict[str, tuple[int, int | None]] = {
    "seed": (0, MAX_SEED),
    "n_startup_trials": (0, None),
    "n_ei_candidates": (1, None),
    "n_warmup_steps": (0, None),
    "interval_steps": (1, None),
    "n_min_trials": (1, None),
    "percentile": (0, 100),
    "min_resource": (1, None),
    "max_resource": (1, None),
    "reduction_factor": (2, None),
    "min_early_stopping_rate": (0, None),
    "bootstrap_count": (0, None),
    "patience": (0, None),
    "min_delta": (0, None),
}
CHOICES: dict[str, tuple[str, ...]] = {
    "qmc_type": ("sobol", "halton"),
    "restart_strategy": ("ipop", "bipop"),
    "wrapped": ("median", "none"),
}


def parse_sampler(value: Any, problems: Problems) -> Component:
    """The `sampler:` field: a name from SAMPLERS, or a mapping of its name and options."""
    sampler = _parse_component(value, "sampler", SAMPLERS, problems)
    options = sampler.options.kwargs()
    if options.get("group") is True and options.get("multivariate") is not True:
        problems.add("sampler.group", "needs multivariate: true (Optuna's TPE groups so)")
    return sampler


def parse_pruner(value: Any, problems: Problems, epochs: int = 10) -> Component:
    """The `pruner:` field, with the options some pruners cannot do without and those that
    limit each other (Hyperband's resources are epochs, its largest the study's `epochs`)."""
    pruner = _parse_component(value, "pruner", PRUNERS, problems)
    options = pruner.options.kwargs()
    given = value if isinstance(value, dict) else {}
    if pruner.name == "patient" and "patience" not in given:
        problems.add("pruner.patience", "required for the patient pruner (epochs without gain)")
    if pruner.name == "threshold" and not {"lower", "upper"} & set(given):
        problems.add("pruner", "the threshold pruner needs lower or upper")
    lower, upper = options.get("lower"), options.get("upper")
    if lower is not None and upper is not None and lower > upper:
        problems.add(
            "pruner",
            f"lower must be <= upper, got lower {quoted(given['lower'])} "
            f"and upper {quoted(given['upper'])}",
        )
    if pruner.name == "hyperband":
        least, most = options.get("min_resource", 1), options.get("max_resource", epochs)
        if least > most:
            problems.add(
                "pruner.min_resource",
                f"must be <= max_resource ({most}, the study's epochs unless given), got {least}",
            )
    if (
        pruner.name == "sha"
        and options.get("bootstrap_count", 0) > 0
        and "min_resource" not in options
    ):
        problems.add("pruner.bootstrap_count", "> 0 needs min_resource (Optuna's rule)")
    return pruner


def _parse_component(value: Any, where: str, table: OptionTable, problems: Problems) -> Component:
    """A sampler or pruner: a name from `table`, or a mapping of its name and options."""
    if isinstance(value, str):
        value = {"name": value}
    if not isinstance(value, dict):
        problems.add(where, f"must be a name or a mapping with name:, got {quoted(value)}")
        return Component(next(iter(table)))
    name = value.get("name")
    if not isinstance(name, str) or name not in table:
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
        if checked is not None and _within(f"{where}.{key}", key, checked, option, problems):
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


def _within(where: str, key: str, value: Any, written: Any, problems: Problems) -> bool:
    """Whether an option of the right type holds a value Optuna takes; else a problem that
    quotes the value as `written`."""
    if key in CHOICES and value not in CHOICES[key]:
        problems.add(where, f"must be one of {', '.join(CHOICES[key])}, got {quoted(written)}")
        return False
    if isinstance(value, bool) or not isinstance(value, int | float):
        return True
    least, most = BOUNDS.get(key, (None, None))
    if math.isnan(value) or (key == "sigma0" and not (math.isfinite(value) and value > 0)):
        problems.add(
            where, f"must be a number{' > 0' if key == 'sigma0' else ''}, got {quoted(written)}"
        )
        return False
    if least is None:
        return True
    if value < least or (most is not None and value > most):
        text = f">= {least}" if most is None else f"from {least} to {most}"
        kind = "an integer" if isinstance(value, int) else "a number"
        problems.add(where, f"must be {kind} {text}, got {quoted(written)}")
        return False
    return True
