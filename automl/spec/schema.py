"""What a study file may say: the fixed tables it names choices from, and the frozen types it
is read into.

`PARAMS` is the one home of every hyperparameter's kind, domain and default (the model's
`Hyperparameters` takes its defaults from it); `SAMPLERS` and `PRUNERS` list each one's options
with their types. A file names entries of these tables and never code, and everything past
`automl.spec.rules.parse` sees a `StudySpec`, never a raw dict.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

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
# Data sets automl makes from scikit-learn's digits, and the options only they take.
GENERATED = ("distorted_digits", "distorted_digits_rgb")
GENERATED_OPTIONS = ("difficulty", "train_size", "test_size")
DATASETS = ("digits", "mnist", "fashion_mnist", "cifar10", "cifar100", "folder", "npz", *GENERATED)

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
    "diverge_factor",
    "checkpoint_every",
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
    *GENERATED_OPTIONS,
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
    """One hyperparameter of a study: its name, its kind (from PARAMS) and where it ranges."""

    name: str
    kind: str
    domain: Domain


@dataclass(frozen=True)
class Options:
    """A frozen mapping of a sampler's or pruner's options."""

    items: tuple[tuple[str, Any], ...] = ()

    def kwargs(self) -> dict[str, Any]:
        """The options as keyword arguments of the Optuna class they configure."""
        return dict(self.items)


@dataclass(frozen=True)
class Component:
    """A sampler or a pruner: a name from a fixed table and its options."""

    name: str
    options: Options = field(default_factory=Options)


def takes_option(dataset: str, key: str) -> bool:
    """Whether the data set named `dataset` takes the `dataset:` option `key`: the generated
    sets' options (GENERATED_OPTIONS) belong to them alone."""
    return key not in GENERATED_OPTIONS or dataset in GENERATED


@dataclass(frozen=True)
class DatasetSpec:
    """The file's `dataset:` section, with the defaults a bare name gets."""

    name: str = "digits"
    path: str | None = None
    label_mode: str = "fine"
    image_size: tuple[int, int] | None = None
    color_mode: str | None = None
    validation_split: float = 0.2
    max_samples: int | None = None
    difficulty: float = 1.0  # the generated sets' options (GENERATED_OPTIONS)
    train_size: int = 60_000
    test_size: int = 10_000

    def fingerprint(self) -> str:
        """The spec as the fingerprints of studies and checkpoints write it: its repr, less the
        options its set does not take, so that a study stored before the generated sets'
        options existed still matches its file."""
        kept = [f for f in fields(self) if takes_option(self.name, f.name)]
        shown = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in kept)
        return f"{type(self).__name__}({shown})"


@dataclass(frozen=True)
class StudySpec:
    """A whole study file, validated: what every command past the rules works from."""

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
    # A trial whose training loss exceeds this many times the untrained model's (ln of the
    # number of classes) has diverged and fails; None: only a NaN or infinite loss does.
    diverge_factor: float | None = 100.0
    # A trial saves its state every this many epochs, so a retry resumes there (0: never).
    checkpoint_every: int = 1
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
