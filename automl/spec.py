"""The study file, read once into frozen, validated objects.

This is the only module that reads YAML. Everything deeper sees a `StudySpec`, never a raw
dict, and every rule a file can break is checked here, before anything trains or touches a
storage. Problems are collected, not raised one by one, so a user fixes a file in one pass.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from automl.errors import SpecError

Scalar = float | int | bool | str


@dataclass(frozen=True)
class ParamDef:
    """A known hyperparameter: its kind, default, and the domain a value must lie in."""

    kind: str  # "float" | "int" | "bool" | "choice"
    default: Scalar
    doc: str
    low: float | None = None
    high: float | None = None
    low_open: bool = False  # low itself is not allowed
    high_open: bool = False
    choices: tuple[str, ...] = ()


PARAMS: dict[str, ParamDef] = {
    "learning_rate": ParamDef("float", 1e-3, "the learning rate α", 0.0, None, low_open=True),
    "optimizer": ParamDef(
        "choice", "adam", "the optimizer", choices=("adam", "sgd", "rmsprop", "adamw")
    ),
    "beta_1": ParamDef("float", 0.9, "Adam's β1 (momentum of the gradient)", 0.0, 1.0, True, True),
    "beta_2": ParamDef("float", 0.999, "Adam's β2 (momentum of its square)", 0.0, 1.0, True, True),
    "epsilon": ParamDef("float", 1e-8, "Adam/RMSprop's ε", 0.0, None, low_open=True),
    "momentum": ParamDef("float", 0.0, "momentum of SGD and RMSprop", 0.0, 1.0, high_open=True),
    "l2": ParamDef("float", 0.0, "the L2 strength λ on the kernels", 0.0, None),
    "depth": ParamDef("int", 2, "the number of convolution blocks", 1, 12),
    "width": ParamDef("int", 32, "filters of the first block (doubling per block)", 1, 1024),
    "batch_norm": ParamDef("bool", False, "batch normalization before each activation"),
    "bn_momentum": ParamDef(
        "float", 0.9, "momentum of batch normalization's moving averages", 0.0, 1.0, True, True
    ),
    "dropout": ParamDef("float", 0.0, "dropout rate after each block", 0.0, 1.0, high_open=True),
    "batch_size": ParamDef("int", 64, "examples per training step", 1, 65536),
    "augment": ParamDef(
        "choice",
        "none",
        "random augmentation while training",
        choices=("none", "flip", "translate", "flip_translate"),
    ),
}

METRICS = ("val_accuracy", "val_loss", "accuracy", "loss")
DATASETS = ("digits", "mnist", "fashion_mnist", "cifar10", "cifar100", "folder", "npz")

# Options each sampler and pruner takes, with the type each must have.
SAMPLERS: dict[str, dict[str, type | tuple[type, ...]]] = {
    "tpe": {
        "seed": int,
        "n_startup_trials": int,
        "n_ei_candidates": int,
        "multivariate": bool,
        "group": bool,
        "constant_liar": bool,
    },
    "random": {"seed": int},
    "grid": {"seed": int},
    "qmc": {"seed": int, "qmc_type": str, "scramble": bool},
    "cmaes": {
        "seed": int,
        "n_startup_trials": int,
        "sigma0": (int, float),
        "restart_strategy": str,
    },
    "gp": {"seed": int, "n_startup_trials": int},
}
PRUNERS: dict[str, dict[str, type | tuple[type, ...]]] = {
    "none": {},
    "median": {
        "n_startup_trials": int,
        "n_warmup_steps": int,
        "interval_steps": int,
        "n_min_trials": int,
    },
    "percentile": {
        "percentile": (int, float),
        "n_startup_trials": int,
        "n_warmup_steps": int,
        "interval_steps": int,
        "n_min_trials": int,
    },
    "hyperband": {
        "min_resource": int,
        "max_resource": int,
        "reduction_factor": int,
        "bootstrap_count": int,
    },
    "sha": {
        "min_resource": int,
        "reduction_factor": int,
        "min_early_stopping_rate": int,
        "bootstrap_count": int,
    },
    "patient": {"patience": int, "min_delta": (int, float), "wrapped": str},
    "threshold": {
        "lower": (int, float),
        "upper": (int, float),
        "n_warmup_steps": int,
        "interval_steps": int,
    },
}
TOP_LEVEL = (
    "name",
    "dataset",
    "metric",
    "direction",
    "epochs",
    "sampler",
    "pruner",
    "trials",
    "timeout",
    "seed",
    "params",
    "keep_models",
    "restore_best_weights",
    "description",
)
DATASET_OPTIONS = (
    "name",
    "path",
    "label_mode",
    "image_size",
    "color_mode",
    "validation_split",
    "max_samples",
)


@dataclass(frozen=True)
class Fixed:
    """One value for every trial."""

    value: Scalar


@dataclass(frozen=True)
class Choice:
    """A categorical choice (and the grid's values under `sampler: grid`)."""

    values: tuple[Scalar, ...]


@dataclass(frozen=True)
class Range:
    """A numeric interval; `scale` is "linear", "log" or "log1m" (log-uniform in 1 − x)."""

    low: float
    high: float
    scale: str = "linear"
    step: float | None = None
    num: int | None = None


Domain = Fixed | Choice | Range


@dataclass(frozen=True)
class ParamSpec:
    name: str
    kind: str
    domain: Domain


@dataclass(frozen=True)
class Options:
    """A frozen mapping of a sampler's or pruner's options."""

    items: tuple[tuple[str, Any], ...] = ()

    def kwargs(self) -> dict[str, Any]:
        return dict(self.items)

    def get(self, key: str, default: Any = None) -> Any:
        return dict(self.items).get(key, default)


@dataclass(frozen=True)
class Component:
    """A sampler or a pruner: a name from a fixed table and its options."""

    name: str
    options: Options = field(default_factory=Options)


@dataclass(frozen=True)
class DatasetSpec:
    name: str = "digits"
    path: str | None = None
    label_mode: str = "fine"
    image_size: tuple[int, int] | None = None
    color_mode: str | None = None
    validation_split: float = 0.2
    max_samples: int | None = None


@dataclass(frozen=True)
class StudySpec:
    name: str
    dataset: DatasetSpec
    metric: str
    direction: str
    epochs: int
    sampler: Component
    pruner: Component
    trials: int | None
    timeout: float | None
    seed: int | None
    params: tuple[ParamSpec, ...]
    keep_models: int = 3
    # A trial is worth its best epoch and keeps that epoch's weights (KerasTuner scores trials
    # so; Keras's EarlyStopping restores so); False: its last epoch.
    restore_best_weights: bool = True
    description: str = ""

    @property
    def searched(self) -> tuple[ParamSpec, ...]:
        """The parameters that vary between trials."""
        return tuple(p for p in self.params if not isinstance(p.domain, Fixed))

    @property
    def fixed(self) -> dict[str, Scalar]:
        """Every known hyperparameter that does not vary, with its value (defaults included)."""
        values: dict[str, Scalar] = {n: d.default for n, d in PARAMS.items()}
        for p in self.params:
            if isinstance(p.domain, Fixed):
                values[p.name] = p.domain.value
            else:
                values.pop(p.name, None)
        return values


# ---------------------------------------------------------------------------- YAML reading


class _Loader(yaml.SafeLoader):
    """A SafeLoader that reads `1e-4` as a number, as users mean it (YAML 1.1 wants `1.0e-4`)."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
        |\.[0-9_]+(?:[eE][-+][0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+0123456789."),
)


def _unique_keys(loader: _Loader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    """Mappings refuse a key given twice: plain YAML keeps the last one silently."""
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _unique_keys)


def load_yaml(text: str, source: str) -> Any:
    """Parse YAML text; a syntax error becomes one SpecError line with its line number."""
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise SpecError([f"YAML syntax error at {where}{exc.problem or exc}"], source) from None
    except yaml.YAMLError as exc:
        raise SpecError([f"YAML syntax error: {exc}"], source) from None


def read_raw(path: str | Path) -> dict[str, Any]:
    """Read a study file into a plain mapping (for overrides); the rules come in `parse`."""
    p = Path(path)
    if not p.is_file():
        raise SpecError([f"no such study file: {p}"])
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError([f"cannot read study file: {exc}"], str(p)) from None
    data = load_yaml(text, str(p))
    if not isinstance(data, dict):
        raise SpecError(["the file must be a mapping of fields (name:, params:, ...)"], str(p))
    return data


def load_spec(path: str | Path, overrides: Mapping[str, Any] | None = None) -> StudySpec:
    """Read, override and validate a study file."""
    raw = read_raw(path)
    if overrides:
        raw = apply_overrides(raw, overrides)
    return parse(raw, source=str(path))


def apply_overrides(raw: dict[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Set dotted keys (`epochs`, `params.learning_rate`, `sampler.seed`) in a copy of `raw`."""
    out: dict[str, Any] = _deep_copy(raw)
    for key, value in overrides.items():
        parts = key.split(".")
        node = out
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                # `sampler: tpe` overridden by `sampler.seed=1` becomes {name: tpe, seed: 1}
                child = {"name": child} if isinstance(child, str) else {}
                node[part] = child
            node = child
        node[parts[-1]] = value
    return out


def _deep_copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _deep_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_deep_copy(v) for v in value]
    return value


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
