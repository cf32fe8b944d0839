"""The workload every benchmark shares: the data split, the search space, the model and its fit.

Digits (the default) is split the way automl splits it (automl.data.dataset.load_dataset with
`max_samples`), and the images `max_samples` leaves out become a test set that only the
benchmark sees. A Keras data set (mnist, fashion_mnist, cifar10, cifar100), read from the Keras
cache and never downloaded, or a generated one (distorted_digits, distorted_digits_rgb, at their
default size and difficulty), is split the same way (its training images, optionally a
`max_samples` subset) and keeps its own test split. Either way automl's own arm reads the same
`dataset: {name: ..., max_samples: ...}` and trains on exactly the images the other tools train
on, without a file to hand over.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from automl.data.sources.keras_cache import KERAS_SETS
from automl.spec.schema import GENERATED, DatasetSpec

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

if TYPE_CHECKING:
    import keras

    from automl.data.dataset import Dataset
    from automl.search.space import Hyperparameters

# Digits has 1,797 images; 80% stay for training and validation, 20% are the benchmark's test set.
DIGITS_TOTAL = 1797
KEEP = 1438
EPOCHS = 12  # the most epochs a trial trains (Hyperband's max resource)
TRIALS = 30
BATCH_SIZE = 64  # automl's default
DATASETS = ("digits", *KERAS_SETS, *GENERATED)


@dataclass(frozen=True)
class Dim:
    """One searched hyperparameter, as every tool is asked to search it."""

    name: str
    low: float
    high: float
    log: bool = False
    integer: bool = False
    one_minus: bool = False  # searched log-uniform in 1 - x (β near 1)


# learning rate, β1, λ, depth, width, and batch normalization on/off.
SPACE = (
    Dim("learning_rate", 1e-4, 1e-1, log=True),
    Dim("beta_1", 0.8, 0.99, log=True, one_minus=True),
    Dim("l2", 1e-6, 1e-2, log=True),
    Dim("depth", 1, 3, integer=True),
    Dim("width", 8, 128, log=True, integer=True),
)
BOOLEAN = ("batch_norm",)


def searched_name(d: Dim) -> str:
    """The name a tool stores the parameter under (automl's convention for 1 - β)."""
    return f"one_minus_{d.name}" if d.one_minus else d.name


def searched_bounds(d: Dim) -> tuple[float, float]:
    return (1 - d.high, 1 - d.low) if d.one_minus else (d.low, d.high)


def hyperparameters(values: dict[str, Any]) -> Hyperparameters:
    """A tool's sampled values (1 - β under `one_minus_β`) as automl's Hyperparameters."""
    from automl.search.space import Hyperparameters

    resolved = dict(values)
    for d in SPACE:
        key = searched_name(d)
        if d.one_minus and key in resolved:
            resolved[d.name] = 1 - resolved.pop(key)
        if d.integer and d.name in resolved:
            resolved[d.name] = int(resolved[d.name])
    for b in BOOLEAN:
        if b in resolved:
            resolved[b] = bool(resolved[b])
    return Hyperparameters.from_dict(resolved)


def random_configs(n: int, seed: int, space: tuple[Dim, ...] = SPACE) -> list[dict[str, Any]]:
    """`n` configurations drawn uniformly (log-uniformly where `log`), under searched names."""
    rng = np.random.default_rng(seed)
    configs = []
    for _ in range(n):
        config: dict[str, Any] = {}
        for d in space:
            low, high = searched_bounds(d)
            if d.log:
                value = float(np.exp(rng.uniform(np.log(low), np.log(high))))
            else:
                value = float(rng.uniform(low, high))
            config[searched_name(d)] = int(round(value)) if d.integer else value
        for b in BOOLEAN:
            config[b] = bool(rng.integers(2))
        configs.append(config)
    return configs


def study_params(space: tuple[Dim, ...] = SPACE) -> dict[str, Any]:
    """The space as the `params` of an automl study file."""
    params: dict[str, Any] = {}
    for d in space:
        low, high = (int(d.low), int(d.high)) if d.integer else (d.low, d.high)
        entry: dict[str, Any] = {"low": low, "high": high}
        if d.one_minus:
            entry["scale"] = "log1m"
        elif d.log:
            entry["log"] = True
        params[d.name] = entry
    for b in BOOLEAN:
        params[b] = [True, False]
    return params


def dataset_spec(name: str = "digits", max_samples: int | None = None) -> DatasetSpec:
    """The images a benchmark trains on, as automl's DatasetSpec.

    Digits always keeps KEEP images, since the ones it leaves out are its test set; a Keras data
    set keeps `max_samples` of its training images (all without it); a generated set is made
    with `max_samples` images to search on (its validation split among them, as automl splits a
    Keras set's) and GENERATED_TEST test images, rather than cut from the full-size set, whose
    12,000 validation images would cost more per epoch than the training.
    """
    if name == "digits":
        if max_samples is not None:
            raise ValueError(
                f"digits always keeps {KEEP} of its {DIGITS_TOTAL} images (the rest is the test "
                "set); max_samples is for the Keras data sets"
            )
        return DatasetSpec(name="digits", max_samples=KEEP)
    if name in GENERATED and max_samples is not None:
        return DatasetSpec(
            name=name, max_samples=max_samples, train_size=max_samples, test_size=GENERATED_TEST
        )
    return DatasetSpec(name=name, max_samples=max_samples)


GENERATED_TEST = 2000
DIGITS = dataset_spec()


def check(dataset: DatasetSpec) -> str:
    """A one-line description of the data set, or a DataError naming where automl looks for it.

    Nothing is downloaded: a timed arm must not start with a download, and automl's loader would
    fetch a Keras data set missing from the cache.
    """
    from automl.data.dataset import check_dataset
    from automl.data.sources.keras_cache import keras_cache
    from automl.data.sources.locate import locate
    from automl.errors import DataError

    if locate(dataset, None) is None:
        keras_set = KERAS_SETS[dataset.name]
        raise DataError(
            f"{dataset.name} ({keras_set.title}) is not in the Keras cache: put "
            f"{keras_set.wanted} in {keras_cache() / keras_set.cache_folder} (KERAS_HOME moves "
            "the cache); the benchmark downloads nothing"
        )
    return check_dataset(dataset, fetch=False)


def study_file(
    name: str, seed: int, dataset: DatasetSpec = DIGITS, **overrides: Any
) -> dict[str, Any]:
    """An automl study file (as a dict) over the shared data and space; overrides win."""
    entry: dict[str, Any] = {"name": dataset.name}
    if dataset.max_samples is not None:
        entry["max_samples"] = dataset.max_samples
    if dataset.name in GENERATED:
        entry.update(train_size=dataset.train_size, test_size=dataset.test_size)
    return {
        "name": name,
        "dataset": entry,
        "metric": "val_accuracy",
        "epochs": EPOCHS,
        "sampler": {"name": "tpe", "seed": seed},
        "pruner": {"name": "hyperband", "min_resource": 1, "reduction_factor": 3},
        "trials": TRIALS,
        "seed": seed,
        "params": study_params(),
        **overrides,
    }


@dataclass(frozen=True, eq=False)
class Data:
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    input_shape: tuple[int, ...]
    num_classes: int
    input_scale: float
    dataset: Any  # automl.data.Dataset of the kept images, for automl's own pipelines
    spec: DatasetSpec  # what automl's arm puts in its study file to train on the same images


def load(seed: int, dataset: DatasetSpec = DIGITS) -> Data:
    """The data set split as automl splits it for `seed`, plus the test images."""
    from automl.data.dataset import load_dataset

    kept = load_dataset(dataset, seed)
    if dataset.name == "digits":
        x_test, y_test = _digits_left_out(kept, seed)
    else:
        assert kept.x_test is not None and kept.y_test is not None  # every Keras set has one
        x_test, y_test = kept.x_test, kept.y_test
    return Data(
        kept.x_train,
        kept.y_train,
        kept.x_val,
        kept.y_val,
        x_test,
        y_test,
        kept.input_shape,
        kept.num_classes,
        kept.input_scale,
        kept,
        dataset,
    )


def _digits_left_out(kept: Dataset, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The digits automl's `max_samples` subset leaves out: the benchmark's test set."""
    from sklearn.datasets import load_digits

    from automl.data.dataset import subset

    digits = load_digits()
    x = digits.images[..., None].astype(np.float32)
    y = digits.target.astype(np.int64)
    # automl keeps these images (its stratified `max_samples` subset); the rest is the test set.
    keep = np.zeros(len(y), dtype=bool)
    keep[subset(y, KEEP, seed)] = True
    x_kept = x[keep]
    if not np.array_equal(
        _sorted_rows(x_kept), _sorted_rows(np.concatenate([kept.x_train, kept.x_val]))
    ):
        raise RuntimeError("automl no longer takes max_samples the way this benchmark assumes")
    return x[~keep], y[~keep]


def _sorted_rows(x: np.ndarray) -> np.ndarray:
    rows = x.reshape(len(x), -1)
    return rows[np.lexsort(rows.T[::-1])]


def build(hp: Hyperparameters, data: Data, as_automl: bool = False) -> keras.Model:
    """automl's CNN for `hp`; with Keras's own Adam update unless `as_automl` (automl fuses it)."""
    from automl.train.model import build_model

    return build_model(
        hp, data.input_shape, data.num_classes, data.input_scale, fused_adam=as_automl
    )


@dataclass
class Fitted:
    model: keras.Model
    val_accuracy: list[float]  # per epoch trained
    fit_seconds: float  # inside model.fit only


def fit(
    hp: Hyperparameters,
    data: Data,
    epochs: int,
    seed: int,
    callbacks: list[Any] | None = None,
    as_automl: bool = False,
) -> Fitted:
    """What a hand-written script does per configuration: reset, seed, build, fit.

    It feeds the arrays to a model with Keras's own Adam (what a user writes), or with
    `as_automl` automl's own tf.data pipelines (shuffled, prefetched) to a model with automl's
    fused Adam update and its training state created before `fit` (so `fit` traces its step
    once), to fit exactly what automl fits, and keeps its best epoch's weights.
    """
    import time

    import keras

    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    model = build(hp, data, as_automl)
    if as_automl:
        from automl.data.pipeline import pipelines as automl_pipelines
        from automl.train.model import build_training_state

        train, val = automl_pipelines(data.dataset, hp.batch_size, seed)
        inputs: dict[str, Any] = {"x": train, "validation_data": val, "shuffle": False}
        build_training_state(model, data.x_train[:2], data.y_train[:2])
    else:
        inputs = {
            "x": data.x_train,
            "y": data.y_train,
            "validation_data": (data.x_val, data.y_val),
            "batch_size": hp.batch_size,
        }
    callbacks = list(callbacks or [])
    if as_automl:  # automl keeps each trial's best epoch (restore_best_weights, its default)
        from automl.train.objective import BestEpoch

        best = BestEpoch("val_accuracy", "maximize")
        callbacks.insert(0, best)
    t0 = time.perf_counter()
    history = model.fit(**inputs, epochs=epochs, callbacks=callbacks, verbose=0)
    seconds = time.perf_counter() - t0
    if as_automl and best.best is not None:
        best.restore()
    return Fitted(model, [float(v) for v in history.history.get("val_accuracy", [])], seconds)


def test_accuracy(model: keras.Model, data: Data) -> float:
    _, accuracy = model.evaluate(data.x_test, data.y_test, batch_size=512, verbose=0)
    return float(accuracy)
