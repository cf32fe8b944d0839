"""The study file, read once into frozen, validated objects.

This is the only module that reads YAML. Everything deeper sees a `StudySpec`, never a raw
dict, and every rule a file can break is checked here, before anything trains or touches a
storage. Problems are collected, not raised one by one, so a user fixes a file in one pass.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from automl.errors import SpecError
from automl.spec.params import _parse_param, grid_values
from automl.spec.problems import _fmt, _integer, _number, _Problems
from automl.spec.schema import (
    DATASET_OPTIONS,
    DATASETS,
    METRICS,
    PRUNERS,
    SAMPLERS,
    TOP_LEVEL,
    Component,
    DatasetSpec,
    Fixed,
    Options,
    ParamSpec,
    StudySpec,
)


def parse(raw: Mapping[str, Any], source: str = "") -> StudySpec:
    """Validate a raw mapping into a StudySpec, or raise SpecError listing every problem."""
    problems = _Problems()
    for key in raw:
        if key not in TOP_LEVEL:
            problems.add(str(key), f"unknown field; known fields: {', '.join(TOP_LEVEL)}")

    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        problems.add("name", f"required, a non-empty string (the study's name), got {name!r}")
        name = ""

    dataset = _parse_dataset(raw.get("dataset", "digits"), problems)

    metric = raw.get("metric", "val_accuracy")
    if metric not in METRICS:
        problems.add("metric", f"must be one of {', '.join(METRICS)}, got {_fmt(metric)}")
        metric = "val_accuracy"
    direction = raw.get("direction", "minimize" if str(metric).endswith("loss") else "maximize")
    if direction not in ("minimize", "maximize"):
        problems.add("direction", f"must be minimize or maximize, got {_fmt(direction)}")
        direction = "maximize"

    epochs = _positive_int(raw, "epochs", 10, problems)
    trials = _positive_int(raw, "trials", None, problems)
    keep_models = _positive_int(raw, "keep_models", 3, problems, allow_zero=True)
    restore_best_weights = raw.get("restore_best_weights", True)
    if not isinstance(restore_best_weights, bool):
        problems.add(
            "restore_best_weights", f"must be true or false, got {_fmt(restore_best_weights)}"
        )
        restore_best_weights = True
    timeout = None
    if raw.get("timeout") is not None:
        timeout = _number(raw["timeout"])
        if timeout is None or not timeout > 0:
            problems.add("timeout", f"must be a number of seconds > 0, got {_fmt(raw['timeout'])}")
            timeout = None
    seed = None
    if raw.get("seed") is not None:
        seed = _integer(raw["seed"])
        if seed is None or seed < 0:
            problems.add("seed", f"must be an integer >= 0, got {_fmt(raw['seed'])}")
            seed = None

    sampler = _parse_component(raw.get("sampler", "tpe"), "sampler", SAMPLERS, problems)
    pruner = _parse_component(raw.get("pruner", "median"), "pruner", PRUNERS, problems)
    if pruner.name == "patient" and "patience" not in pruner.options.kwargs():
        problems.add("pruner.patience", "required for the patient pruner (epochs without gain)")
    if pruner.name == "threshold" and not {"lower", "upper"} & set(pruner.options.kwargs()):
        problems.add("pruner", "the threshold pruner needs lower or upper")
    wrapped = pruner.options.get("wrapped")
    if wrapped is not None and wrapped not in ("median", "none"):
        problems.add("pruner.wrapped", f"must be median or none, got {_fmt(wrapped)}")

    raw_params = raw.get("params", {})
    params: list[ParamSpec] = []
    if raw_params is None:
        raw_params = {}
    if not isinstance(raw_params, dict):
        problems.add("params", "must be a mapping of hyperparameter names to values or ranges")
    else:
        for pname, pvalue in raw_params.items():
            spec = _parse_param(str(pname), pvalue, sampler.name == "grid", problems)
            if spec is not None:
                params.append(spec)

    if sampler.name == "grid":
        size = 1
        for p in params:
            if not isinstance(p.domain, Fixed):
                size *= len(grid_values(p))
        if not any(not isinstance(p.domain, Fixed) for p in params):
            problems.add("params", "sampler grid needs at least one list or range to search")
        if trials is not None and trials > size:
            problems.add("trials", f"the grid has {size} combinations, got trials: {trials}")
    if not problems.items and trials is None and sampler.name != "grid":
        trials = 20

    if problems.items:
        raise SpecError(problems.items, source)
    return StudySpec(
        name=str(name),
        dataset=dataset,
        metric=str(metric),
        direction=str(direction),
        epochs=int(epochs or 10),
        sampler=sampler,
        pruner=pruner,
        trials=trials,
        timeout=timeout,
        seed=seed,
        params=tuple(params),
        keep_models=int(keep_models if keep_models is not None else 3),
        restore_best_weights=restore_best_weights,
        description=str(raw.get("description", "") or ""),
    )


def _positive_int(
    raw: Mapping[str, Any],
    key: str,
    default: int | None,
    problems: _Problems,
    allow_zero: bool = False,
) -> int | None:
    if raw.get(key) is None:
        return default
    value = _integer(raw[key])
    least = 0 if allow_zero else 1
    if value is None or value < least:
        problems.add(key, f"must be an integer >= {least}, got {_fmt(raw[key])}")
        return default
    return value


def _parse_dataset(value: Any, problems: _Problems) -> DatasetSpec:
    if isinstance(value, str):
        value = {"name": value}
    if not isinstance(value, dict):
        problems.add("dataset", f"must be a name or a mapping with name:, got {_fmt(value)}")
        return DatasetSpec()
    for key in value:
        if key not in DATASET_OPTIONS:
            problems.add(f"dataset.{key}", f"unknown option; known: {', '.join(DATASET_OPTIONS)}")
    name = value.get("name")
    if name not in DATASETS:
        problems.add("dataset.name", f"must be one of {', '.join(DATASETS)}, got {_fmt(name)}")
        name = "digits"
    path = value.get("path")
    if path is not None and (not isinstance(path, str) or not path.strip()):
        problems.add("dataset.path", f"must be a path, got {_fmt(path)}")
        path = None
    if name in ("folder", "npz") and path is None:
        problems.add("dataset.path", f"required for dataset {name}")
    if name == "digits" and path is not None:
        problems.add("dataset.path", "digits comes with scikit-learn; it takes no path")
    label_mode = value.get("label_mode", "fine")
    if label_mode not in ("fine", "coarse"):
        problems.add("dataset.label_mode", f"must be fine or coarse, got {_fmt(label_mode)}")
        label_mode = "fine"
    elif label_mode == "coarse" and name != "cifar100":
        problems.add("dataset.label_mode", f"only cifar100 has fine and coarse labels, not {name}")
    color_mode = value.get("color_mode")
    if color_mode is not None and color_mode not in ("grayscale", "rgb"):
        problems.add("dataset.color_mode", f"must be grayscale or rgb, got {_fmt(color_mode)}")
        color_mode = None
    image_size = value.get("image_size")
    size: tuple[int, int] | None = None
    if image_size is not None:
        sides = image_size if isinstance(image_size, list) else [image_size, image_size]
        ints = [_integer(s) for s in sides]
        if len(ints) != 2 or any(s is None or s < 1 for s in ints):
            problems.add(
                "dataset.image_size", f"must be a size or [height, width] > 0, got {image_size}"
            )
        else:
            size = (int(ints[0] or 0), int(ints[1] or 0))
    split = _number(value.get("validation_split", 0.2))
    if split is None or not 0 < split < 1:
        problems.add(
            "dataset.validation_split",
            f"must be a fraction between 0 and 1, got {_fmt(value.get('validation_split'))}",
        )
        split = 0.2
    max_samples = None
    if value.get("max_samples") is not None:
        max_samples = _integer(value["max_samples"])
        if max_samples is None or max_samples < 2:
            problems.add(
                "dataset.max_samples", f"must be an integer >= 2, got {_fmt(value['max_samples'])}"
            )
            max_samples = None
    return DatasetSpec(
        name=str(name),
        path=path,
        label_mode=str(label_mode),
        image_size=size,
        color_mode=color_mode,
        validation_split=float(split),
        max_samples=max_samples,
    )


def _parse_component(
    value: Any,
    where: str,
    table: dict[str, dict[str, type | tuple[type, ...]]],
    problems: _Problems,
) -> Component:
    if isinstance(value, str):
        value = {"name": value}
    if not isinstance(value, dict):
        problems.add(where, f"must be a name or a mapping with name:, got {_fmt(value)}")
        return Component(next(iter(table)))
    name = value.get("name")
    if name not in table:
        problems.add(
            f"{where}.name" if "name" in value and len(value) > 1 else where,
            f"must be one of {', '.join(table)}, got {_fmt(name)}",
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
        expected = allowed[key]
        if expected in (int, float) or expected == (int, float):
            number = _integer(option) if expected is int else _number(option)
            if number is None:
                kind = "an integer" if expected is int else "a number"
                problems.add(f"{where}.{key}", f"must be {kind}, got {_fmt(option)}")
                continue
            option = number
        elif not isinstance(option, expected):
            kind = getattr(expected, "__name__", str(expected))
            problems.add(f"{where}.{key}", f"must be {kind}, got {_fmt(option)}")
            continue
        items.append((key, option))
    return Component(str(name), Options(tuple(items)))
