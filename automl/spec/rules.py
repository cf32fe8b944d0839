"""The rules of a study file: a raw mapping in, a frozen StudySpec (or every problem) out.

`parse` checks one section at a time (the top-level fields, the data set, the objective, the
budget, the sampler and pruner in `components`, each parameter in `params`, the grid) and
raises one SpecError listing every problem found, so a user fixes a file in one pass, before
anything trains or opens a storage. A field that breaks a rule falls back to its default, so
the later rules still run.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from automl.errors import SpecError
from automl.spec.components import MAX_SEED, parse_pruner, parse_sampler
from automl.spec.dataset import parse_dataset
from automl.spec.params import MAX_GRID_CELLS, count_text, grid_count, param_spec
from automl.spec.problems import Problems, as_number, choice, quoted, whole_number
from automl.spec.schema import (
    METRICS,
    TOP_LEVEL,
    Fixed,
    ParamSpec,
    StudySpec,
)

DEFAULT_TRIALS = 20  # when neither the file nor a grid says how many
# A study's name is also its MLflow experiment's (at most 500 characters) and its registered
# model's (none of these characters: mlflow/utils/validation.py and the file store's rules).
NAME_REFUSED = ("/", ":", "%")
MAX_NAME = 500
# A training loss this many times the untrained model's has diverged (see `automl.train`).
DEFAULT_DIVERGE_FACTOR = 100.0
# Saving a trial's state costs a small share of an epoch (benchmarks/checkpoint.py): every epoch.
DEFAULT_CHECKPOINT_EVERY = 1


def parse(raw: Mapping[str, Any], source: str = "") -> StudySpec:
    """Validate a raw mapping into a StudySpec, or raise SpecError listing every problem."""
    problems = Problems()
    _check_fields(raw, problems)
    name = _parse_name(raw, problems)
    dataset = parse_dataset(raw.get("dataset", "digits"), problems)
    metric = choice(raw, "metric", METRICS, "val_accuracy", problems)
    default_direction = "minimize" if metric.endswith("loss") else "maximize"
    direction = choice(raw, "direction", ("minimize", "maximize"), default_direction, problems)
    epochs = whole_number(raw, "epochs", 1, 10, problems)
    trials = whole_number(raw, "trials", 1, None, problems)
    keep_models = whole_number(raw, "keep_models", 0, 3, problems)
    restore_best_weights = _parse_restore_best_weights(raw, problems)
    diverge_factor = _parse_diverge_factor(raw, problems)
    checkpoint_every = whole_number(raw, "checkpoint_every", 0, DEFAULT_CHECKPOINT_EVERY, problems)
    timeout = _parse_timeout(raw, problems)
    seed = whole_number(raw, "seed", 0, None, problems, most=MAX_SEED)
    sampler = parse_sampler(raw.get("sampler", "tpe"), problems)
    pruner = parse_pruner(raw.get("pruner", "median"), problems, int(epochs or 10))
    grid = sampler.name == "grid"
    before = len(problems)
    params = _parse_params(raw.get("params", {}), grid, problems)
    if grid and len(problems) == before:  # a parameter it refused would make the grid look empty
        _check_grid(params, trials, problems)
    if problems.items:
        raise SpecError(problems.items, source)
    return StudySpec(
        name=name,
        dataset=dataset,
        metric=metric,
        direction=direction,
        epochs=int(epochs or 10),
        sampler=sampler,
        pruner=pruner,
        trials=DEFAULT_TRIALS if trials is None and not grid else trials,
        timeout=timeout,
        seed=seed,
        params=params,
        keep_models=int(keep_models if keep_models is not None else 3),
        restore_best_weights=restore_best_weights,
        diverge_factor=diverge_factor,
        checkpoint_every=int(checkpoint_every or 0),
        description=str(raw.get("description", "") or ""),
    )


# ---------------------------------------------------------------------------- top level


def _check_fields(raw: Mapping[str, Any], problems: Problems) -> None:
    for key in raw:
        if key not in TOP_LEVEL:
            problems.add(str(key), f"unknown field; known fields: {', '.join(TOP_LEVEL)}")


def _parse_name(raw: Mapping[str, Any], problems: Problems) -> str:
    """The study's name, which MLflow also holds as an experiment and a registered model."""
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        problems.add("name", f"required, a non-empty string (the study's name), got {quoted(name)}")
        return ""
    refused = [c for c in NAME_REFUSED if c in name]
    if refused:
        problems.add(
            "name",
            f"cannot hold {' or '.join(map(repr, refused))}: MLflow's model registry refuses "
            f"{', '.join(NAME_REFUSED)} in a name, got {quoted(name)}",
        )
    elif name == "." or name.startswith(".."):
        problems.add(
            "name", f"MLflow refuses a name that is . or starts with .., got {quoted(name)}"
        )
    if len(name) > MAX_NAME:
        problems.add("name", f"at most {MAX_NAME} characters (MLflow's rule), got {len(name)}")
    return name


def _parse_restore_best_weights(raw: Mapping[str, Any], problems: Problems) -> bool:
    value = raw.get("restore_best_weights", True)
    if not isinstance(value, bool):
        problems.add("restore_best_weights", f"must be true or false, got {quoted(value)}")
        return True
    return value


def _parse_diverge_factor(raw: Mapping[str, Any], problems: Problems) -> float | None:
    """How many times the untrained model's loss a training loss may reach; 0 or null: off."""
    value = raw.get("diverge_factor", DEFAULT_DIVERGE_FACTOR)
    if value is None:
        return None
    factor = as_number(value)
    if factor == 0:
        return None
    if factor is None or not math.isfinite(factor) or factor <= 1:
        problems.add(
            "diverge_factor",
            f"must be a number > 1 (or 0 or null to turn the check off), got {quoted(value)}",
        )
        return DEFAULT_DIVERGE_FACTOR
    return factor


def _parse_timeout(raw: Mapping[str, Any], problems: Problems) -> float | None:
    if raw.get("timeout") is None:
        return None
    timeout = as_number(raw["timeout"])
    if timeout is None or not timeout > 0:
        problems.add("timeout", f"must be a number of seconds > 0, got {quoted(raw['timeout'])}")
        return None
    return timeout


# ---------------------------------------------------------------------------- params, grid


def _parse_params(raw_params: Any, grid: bool, problems: Problems) -> tuple[ParamSpec, ...]:
    if raw_params is None:
        return ()
    if not isinstance(raw_params, dict):
        problems.add("params", "must be a mapping of hyperparameter names to values or ranges")
        return ()
    specs = (param_spec(str(name), value, grid, problems) for name, value in raw_params.items())
    return tuple(spec for spec in specs if spec is not None)


def _check_grid(params: tuple[ParamSpec, ...], trials: int | None, problems: Problems) -> None:
    searched = [p for p in params if not isinstance(p.domain, Fixed)]
    if not searched:
        problems.add("params", "sampler grid needs at least one list or range to search")
    counts = [grid_count(p) for p in searched]
    size = math.prod(counts)
    if size > MAX_GRID_CELLS:
        spread = " x ".join(f"{p.name} {n}" for p, n in zip(searched, counts, strict=True))
        problems.add(
            "params",
            f"the grid has {count_text(size)} cells ({spread}), "
            f"more than the cap of {MAX_GRID_CELLS}",
        )
    elif trials is not None and trials > size:
        problems.add("trials", f"the grid has {size} combinations, got trials: {trials}")
