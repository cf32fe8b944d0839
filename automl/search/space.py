"""A StudySpec's params as Optuna suggestions, and the hyperparameters of one trial.

`Hyperparameters` takes every default from `PARAMS`, the schema's one table. Ranges on
`scale: log1m` are searched as the Optuna parameter `one_minus_<name>`, log-uniform in 1 − β,
so TPE models the quantity that matters (1/(1 − β) is the averaging horizon). Everything a user
reads (progress, `best`, MLflow, the trial's hyperparameters attribute) shows β itself.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING, Any, TypeVar

from automl.spec.params import grid_values
from automl.spec.schema import PARAMS, Choice, Fixed, ParamSpec, Range, Scalar, StudySpec

if TYPE_CHECKING:
    import optuna

LOG1M_PREFIX = "one_minus_"

T = TypeVar("T", bound=Scalar)


def _default(name: str, kind: type[T]) -> T:
    """PARAMS[name]'s default, refused at import when its type is not the field's."""
    value = PARAMS[name].default
    if not isinstance(value, kind):
        raise TypeError(f"PARAMS[{name!r}].default is {value!r}, not a {kind.__name__}")
    return value


@dataclass(frozen=True)
class Hyperparameters:
    """Every knob of one trial's model and training; the defaults are the lesson's, in PARAMS."""

    learning_rate: float = _default("learning_rate", float)
    optimizer: str = _default("optimizer", str)
    beta_1: float = _default("beta_1", float)
    beta_2: float = _default("beta_2", float)
    epsilon: float = _default("epsilon", float)
    momentum: float = _default("momentum", float)
    l2: float = _default("l2", float)
    depth: int = _default("depth", int)
    width: int = _default("width", int)
    batch_norm: bool = _default("batch_norm", bool)
    bn_momentum: float = _default("bn_momentum", float)
    dropout: float = _default("dropout", float)
    batch_size: int = _default("batch_size", int)
    augment: str = _default("augment", str)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Hyperparameters:
        """The hyperparameters among `values`; other keys are ignored."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})

    def as_dict(self) -> dict[str, Any]:
        """Every hyperparameter by name, as the trial's user attribute stores them."""
        return asdict(self)


def optuna_name(p: ParamSpec, grid: bool) -> str:
    """The name Optuna stores a parameter under."""
    if not grid and isinstance(p.domain, Range) and p.domain.scale == "log1m":
        return LOG1M_PREFIX + p.name
    return p.name


def suggest(trial: optuna.Trial, spec: StudySpec) -> Hyperparameters:
    """Ask the trial for every searched parameter; fixed ones come from the spec."""
    grid = spec.sampler.name == "grid"
    values: dict[str, Scalar] = dict(spec.fixed)
    for p in spec.searched:
        values[p.name] = _suggest_one(trial, p, grid)
    return Hyperparameters.from_dict(values)


def _suggest_one(trial: optuna.Trial, p: ParamSpec, grid: bool) -> Scalar:
    d = p.domain
    if grid or isinstance(d, Choice):
        choices = list(grid_values(p))
        value: Scalar = trial.suggest_categorical(p.name, choices)  # type: ignore[assignment]
        return value
    assert isinstance(d, Range)
    if d.scale == "log1m":
        one_minus = trial.suggest_float(optuna_name(p, grid), 1 - d.high, 1 - d.low, log=True)
        return 1.0 - one_minus
    log = d.scale == "log"
    if p.kind == "int":
        step = int(d.step) if d.step is not None else 1
        return trial.suggest_int(p.name, int(d.low), int(d.high), step=step, log=log)
    return trial.suggest_float(p.name, d.low, d.high, step=d.step, log=log)


def describe(spec: StudySpec) -> list[str]:
    """One line per hyperparameter: how it is searched, in words a user checks a file by."""
    grid = spec.sampler.name == "grid"
    lines = []
    for p in spec.params:
        d = p.domain
        if isinstance(d, Fixed):
            text = f"fixed {show(d.value)}"
        elif grid:
            text = "grid " + ", ".join(show(v) for v in grid_values(p))
        elif isinstance(d, Choice):
            text = "one of " + ", ".join(show(v) for v in d.values)
        else:
            scale = {"linear": "uniform", "log": "log-uniform", "log1m": "log-uniform in 1 - β"}
            text = f"{show(d.low)}..{show(d.high)}, {scale[d.scale]}"
            if d.step is not None:
                text += f" step {show(d.step)}"
            if p.kind == "int":
                text += " (integer)"
        lines.append(f"{p.name}: {text}")
    return lines


def show(value: Any) -> str:
    """A value as a user reads it: floats to 6 significant digits, booleans in YAML's spelling."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:.6g}"
    if value is None:
        return "-"
    return str(value)
