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
from automl.spec.components import parse_pruner, parse_sampler
from automl.spec.params import grid_values, param_spec
from automl.spec.problems import Problems, as_integer, as_number, quoted
from automl.spec.schema import (
    DATASET_OPTIONS,
    DATASETS,
    METRICS,
    TOP_LEVEL,
    DatasetSpec,
    Fixed,
    ParamSpec,
    StudySpec,
)

DEFAULT_TRIALS = 20  # when neither the file nor a grid says how many


def parse(raw: Mapping[str, Any], source: str = "") -> StudySpec:
    """Validate a raw mapping into a StudySpec, or raise SpecError listing every problem."""
    problems = Problems()
    _check_fields(raw, problems)
    name = _parse_name(raw, problems)
    dataset = _parse_dataset(raw.get("dataset", "digits"), problems)
    metric = _choice(raw, "metric", METRICS, "val_accuracy", problems)
    default_direction = "minimize" if metric.endswith("loss") else "maximize"
    direction = _choice(raw, "direction", ("minimize", "maximize"), default_direction, problems)
    epochs = _whole_number(raw, "epochs", 1, 10, problems)
    trials = _whole_number(raw, "trials", 1, None, problems)
    keep_models = _whole_number(raw, "keep_models", 0, 3, problems)
    restore_best_weights = _parse_restore_best_weights(raw, problems)
    timeout = _parse_timeout(raw, problems)
    seed = _whole_number(raw, "seed", 0, None, problems)
    sampler = parse_sampler(raw.get("sampler", "tpe"), problems)
    pruner = parse_pruner(raw.get("pruner", "median"), problems)
    grid = sampler.name == "grid"
    params = _parse_params(raw.get("params", {}), grid, problems)
    if grid:
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
        description=str(raw.get("description", "") or ""),
    )


# ---------------------------------------------------------------------------- top level


def _check_fields(raw: Mapping[str, Any], problems: Problems) -> None:
    for key in raw:
        if key not in TOP_LEVEL:
            problems.add(str(key), f"unknown field; known fields: {', '.join(TOP_LEVEL)}")


def _parse_name(raw: Mapping[str, Any], problems: Problems) -> str:
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        problems.add("name", f"required, a non-empty string (the study's name), got {name!r}")
        return ""
    return name


def _parse_restore_best_weights(raw: Mapping[str, Any], problems: Problems) -> bool:
    value = raw.get("restore_best_weights", True)
    if not isinstance(value, bool):
        problems.add("restore_best_weights", f"must be true or false, got {quoted(value)}")
        return True
    return value


def _parse_timeout(raw: Mapping[str, Any], problems: Problems) -> float | None:
    if raw.get("timeout") is None:
        return None
    timeout = as_number(raw["timeout"])
    if timeout is None or not timeout > 0:
        problems.add("timeout", f"must be a number of seconds > 0, got {quoted(raw['timeout'])}")
        return None
    return timeout


def _choice(
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


def _whole_number(
    mapping: Mapping[str, Any],
    key: str,
    least: int,
    default: int | None,
    problems: Problems,
    where: str = "",
) -> int | None:
    """mapping[key] as an integer >= least (absent or null: `default`); else a problem."""
    if mapping.get(key) is None:
        return default
    value = as_integer(mapping[key])
    if value is None or value < least:
        problems.add(where or key, f"must be an integer >= {least}, got {quoted(mapping[key])}")
        return default
    return value


# ---------------------------------------------------------------------------- dataset


def _parse_dataset(value: Any, problems: Problems) -> DatasetSpec:
    if isinstance(value, str):
        value = {"name": value}
    if not isinstance(value, dict):
        problems.add("dataset", f"must be a name or a mapping with name:, got {quoted(value)}")
        return DatasetSpec()
    for key in value:
        if key not in DATASET_OPTIONS:
            problems.add(f"dataset.{key}", f"unknown option; known: {', '.join(DATASET_OPTIONS)}")
    name = value.get("name")
    if name not in DATASETS:
        problems.add("dataset.name", f"must be one of {', '.join(DATASETS)}, got {quoted(name)}")
        name = "digits"
    path = _dataset_path(value, name, problems)
    label_mode = _label_mode(value, name, problems)
    color_mode = _color_mode(value, problems)
    image_size = _image_size(value, problems)
    split = _validation_split(value, problems)
    max_samples = _whole_number(value, "max_samples", 2, None, problems, "dataset.max_samples")
    return DatasetSpec(
        name=str(name),
        path=path,
        label_mode=label_mode,
        image_size=image_size,
        color_mode=color_mode,
        validation_split=split,
        max_samples=max_samples,
    )


def _dataset_path(value: dict[str, Any], name: str, problems: Problems) -> str | None:
    path = value.get("path")
    if path is not None and (not isinstance(path, str) or not path.strip()):
        problems.add("dataset.path", f"must be a path, got {quoted(path)}")
        path = None
    if name in ("folder", "npz") and path is None:
        problems.add("dataset.path", f"required for dataset {name}")
    if name == "digits" and path is not None:
        problems.add("dataset.path", "digits comes with scikit-learn; it takes no path")
    return path


def _label_mode(value: dict[str, Any], name: str, problems: Problems) -> str:
    where = "dataset.label_mode"
    label_mode = _choice(value, "label_mode", ("fine", "coarse"), "fine", problems, where)
    if label_mode == "coarse" and name != "cifar100":
        problems.add(where, f"only cifar100 has fine and coarse labels, not {name}")
    return label_mode


def _color_mode(value: dict[str, Any], problems: Problems) -> str | None:
    color_mode = value.get("color_mode")
    if color_mode is not None and color_mode not in ("grayscale", "rgb"):
        problems.add("dataset.color_mode", f"must be grayscale or rgb, got {quoted(color_mode)}")
        return None
    return color_mode


def _image_size(value: dict[str, Any], problems: Problems) -> tuple[int, int] | None:
    """`image_size: 32` or `[height, width]`."""
    image_size = value.get("image_size")
    if image_size is None:
        return None
    sides = image_size if isinstance(image_size, list) else [image_size, image_size]
    ints = [as_integer(s) for s in sides]
    if len(ints) != 2 or any(s is None or s < 1 for s in ints):
        problems.add(
            "dataset.image_size", f"must be a size or [height, width] > 0, got {image_size}"
        )
        return None
    return (int(ints[0] or 0), int(ints[1] or 0))


def _validation_split(value: dict[str, Any], problems: Problems) -> float:
    split = as_number(value.get("validation_split", 0.2))
    if split is None or not 0 < split < 1:
        problems.add(
            "dataset.validation_split",
            f"must be a fraction between 0 and 1, got {quoted(value.get('validation_split'))}",
        )
        return 0.2
    return split


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
    size = math.prod(len(grid_values(p)) for p in searched)
    if trials is not None and trials > size:
        problems.add("trials", f"the grid has {size} combinations, got trials: {trials}")
