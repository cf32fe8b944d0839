"""Every rule of the study file: what is accepted, and the one line each mistake gets."""

from __future__ import annotations

from typing import Any

import pytest
from mlflow.exceptions import MlflowException
from mlflow.store.model_registry.file_store import _validate_model_name
from mlflow.utils.validation import _validate_experiment_name

from automl.errors import SpecError
from automl.search.factories import make_pruner, make_sampler
from automl.spec.rules import parse
from automl.spec.schema import Choice, Fixed, Range


def problems(raw: dict[str, Any]) -> list[str]:
    with pytest.raises(SpecError) as info:
        parse(raw)
    return info.value.problems


def minimal(**extra: Any) -> dict[str, Any]:
    return {"name": "s", **extra}


def test_defaults_follow_the_design() -> None:
    spec = parse(minimal())
    assert spec.metric == "val_accuracy" and spec.direction == "maximize"
    assert spec.sampler.name == "tpe" and spec.pruner.name == "median"
    assert spec.dataset.name == "digits" and spec.epochs == 10 and spec.trials == 20
    assert spec.fixed["beta_1"] == 0.9 and spec.fixed["beta_2"] == 0.999
    assert spec.fixed["epsilon"] == 1e-8 and spec.fixed["bn_momentum"] == 0.9
    assert spec.checkpoint_every == 1 and parse(minimal(checkpoint_every=0)).checkpoint_every == 0


def test_a_generated_sets_options_and_their_defaults() -> None:
    dataset = parse(minimal(dataset="distorted_digits")).dataset
    assert (dataset.difficulty, dataset.train_size, dataset.test_size) == (1.0, 60_000, 10_000)
    raw = {"name": "distorted_digits_rgb", "difficulty": "5e-1", "train_size": 50, "test_size": 0}
    dataset = parse(minimal(dataset=raw)).dataset
    assert (dataset.difficulty, dataset.train_size, dataset.test_size) == (0.5, 50, 0)


def test_a_fingerprint_without_the_generated_options_is_as_before_them() -> None:
    """Studies stored before the generated sets existed fingerprinted their data set by its
    repr then: their files must still match."""
    dataset = parse(minimal(dataset={"name": "npz", "path": "x.npz", "image_size": 16})).dataset
    assert dataset.fingerprint() == (
        "DatasetSpec(name='npz', path='x.npz', label_mode='fine', image_size=(16, 16), "
        "color_mode=None, validation_split=0.2, max_samples=None)"
    )
    easy, hard = (
        parse(minimal(dataset={"name": "distorted_digits", "difficulty": d})).dataset
        for d in (0.5, 1)
    )
    assert easy.fingerprint() != hard.fingerprint() and "difficulty=0.5" in easy.fingerprint()


def test_loss_metric_minimizes_by_default() -> None:
    assert parse(minimal(metric="val_loss")).direction == "minimize"


def test_lists_ranges_and_fixed_values() -> None:
    spec = parse(
        minimal(
            params={
                "learning_rate": [0.1, 0.01],
                "beta_2": {"low": 0.99, "high": 0.9995, "scale": "log1m"},
                "depth": {"low": 1, "high": 4},
                "batch_norm": True,
                "optimizer": ["adam", "sgd"],
            }
        )
    )
    domains = {p.name: p.domain for p in spec.params}
    assert domains["learning_rate"] == Choice((0.1, 0.01))
    assert domains["beta_2"] == Range(0.99, 0.9995, "log1m")
    assert domains["depth"] == Range(1, 4)
    assert domains["batch_norm"] == Fixed(True)
    assert [p.name for p in spec.searched] == ["learning_rate", "beta_2", "depth", "optimizer"]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({}, "name: required"),
        (
            minimal(params={"l2": {"low": 0, "high": 1e-2, "log": True}}),
            "params.l2.low: must be > 0 when log is true, got 0",
        ),
        (
            minimal(params={"learning_rate": {"low": -1, "high": 1, "log": True}}),
            "params.learning_rate.low: must be > 0, got -1",
        ),
        (minimal(params={"lr": 0.1}), "params.lr: unknown hyperparameter; known: learning_rate"),
        (
            minimal(params={"beta_2": {"low": 0.9, "high": 1.0, "scale": "log1m"}}),
            "params.beta_2.high: must be > 0 and < 1, got 1.0",
        ),
        (
            minimal(params={"depth": {"low": 4, "high": 2}}),
            "params.depth: low must be < high, got low 4 and high 2",
        ),
        (
            minimal(params={"optimizer": "adagrad"}),
            "params.optimizer: must be one of adam, sgd, rmsprop, adamw, got 'adagrad'",
        ),
        (
            minimal(params={"batch_norm": "yes"}),
            "params.batch_norm: must be true or false, got 'yes'",
        ),
        (minimal(params={"width": 8.5}), "params.width: must be an integer, got 8.5"),
        (minimal(params={"learning_rate": []}), "params.learning_rate: an empty list"),
        (
            minimal(params={"learning_rate": {"low": 1e-4}}),
            "params.learning_rate.high: required in a range",
        ),
        (
            minimal(params={"learning_rate": {"low": 1e-4, "high": 1, "num": 3}}),
            "params.learning_rate.num: only used with sampler: grid",
        ),
        (
            minimal(
                sampler="grid",
                params={"learning_rate": [0.1, 0.01], "l2": {"low": 0.0, "high": 0.1}},
            ),
            "params.l2: sampler grid needs a list, or a range with num: or step:",
        ),
        (minimal(sampler="annealing"), "sampler: must be one of tpe, random, grid"),
        (minimal(sampler={"name": "tpe", "seeds": 1}), "sampler.seeds: unknown option for tpe"),
        (
            minimal(pruner={"name": "hyperband", "reduction_factor": "three"}),
            "pruner.reduction_factor: must be an integer, got 'three'",
        ),
        (minimal(pruner="patient"), "pruner.patience: required for the patient pruner"),
        (minimal(epochs=0), "epochs: must be an integer >= 1, got 0"),
        (minimal(trials="many"), "trials: must be an integer >= 1, got 'many'"),
        (minimal(timeout=-5), "timeout: must be a number of seconds > 0, got -5"),
        (minimal(metric="f1"), "metric: must be one of val_accuracy, val_loss"),
        (minimal(direction="up"), "direction: must be minimize or maximize, got 'up'"),
        (minimal(dataset="imagenet"), "dataset.name: must be one of digits, mnist"),
        (minimal(dataset={"name": "npz"}), "dataset.path: required for dataset npz"),
        (
            minimal(dataset={"name": "distorted_digits", "difficulty": "inf"}),
            "dataset.difficulty: must be a number >= 0, got 'inf'",
        ),
        (
            minimal(dataset={"name": "distorted_digits", "difficulty": True}),
            "dataset.difficulty: must be a number >= 0, got true",
        ),
        (
            minimal(dataset={"name": "distorted_digits_rgb", "test_size": 1.5}),
            "dataset.test_size: must be an integer >= 0, got 1.5",
        ),
        (
            minimal(
                dataset={"name": "distorted_digits", "train_size": 40, "validation_split": 0.1}
            ),
            "dataset.train_size: 40 images with validation_split 0.1 leave 4 to validate on and 36",
        ),
        (
            minimal(dataset={"name": "cifar10", "difficulty": 0.5}),
            "dataset.difficulty: only distorted_digits and distorted_digits_rgb take it, not c",
        ),
        (
            minimal(dataset={"name": "distorted_digits", "path": "digits.npz"}),
            "dataset.path: distorted_digits is made from scikit-learn's digits; it takes no path",
        ),
        (minimal(epoch=3), "epoch: unknown field; known fields: name, dataset"),
        (
            minimal(params={"learning_rate": {"low": 1e-4, "high": 1e-1, "log": "yes"}}),
            "params.learning_rate.log: must be true or false, got 'yes'",
        ),
        (
            minimal(params={"beta_1": {"low": 0.8, "high": 0.99, "log": True, "scale": "log1m"}}),
            "params.beta_1.log: give either log: true or scale: log1m, not both",
        ),
        (
            minimal(restore_best_weights="best"),
            "restore_best_weights: must be true or false, got 'best'",
        ),
        (minimal(checkpoint_every=-1), "checkpoint_every: must be an integer >= 0, got -1"),
        (minimal(checkpoint_every="often"), "checkpoint_every: must be an integer >= 0, got"),
    ],
)
def test_each_mistake_gets_one_line_naming_the_field(raw: dict[str, Any], expected: str) -> None:
    found = problems(raw)
    assert any(line.startswith(expected) for line in found), found


def test_all_problems_are_reported_at_once() -> None:
    found = problems({"name": "", "epochs": -1, "params": {"lr": 1, "depth": 0}})
    assert len(found) == 4
    assert [line.split(":")[0] for line in found] == ["name", "epochs", "params.lr", "params.depth"]


def test_grid_trials_cannot_exceed_the_grid() -> None:
    assert "trials: the grid has 2 combinations, got trials: 5" in problems(
        minimal(sampler="grid", trials=5, params={"batch_norm": [True, False]})
    )


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (minimal(seed=2**32), "seed: must be an integer from 0 to 4294967295, got 4294967296"),
        (minimal(seed=-1), "seed: must be an integer from 0 to 4294967295, got -1"),
        (minimal(sampler={"name": "tpe", "seed": 2**40}), "sampler.seed: must be an integer from"),
        (minimal(sampler={"name": "random", "seed": -3}), "sampler.seed: must be an integer from"),
        (
            minimal(pruner={"name": "percentile", "percentile": 101}),
            "pruner.percentile: must be a number from 0 to 100, got 101",
        ),
        (minimal(pruner={"name": "percentile", "percentile": -0.5}), "pruner.percentile: must"),
        (
            minimal(pruner={"name": "patient", "patience": -1}),
            "pruner.patience: must be an integer",
        ),
        (minimal(pruner={"name": "patient", "patience": 1, "min_delta": -1}), "pruner.min_delta"),
        (
            minimal(pruner={"name": "hyperband", "reduction_factor": 1}),
            "pruner.reduction_factor: must be an integer >= 2, got 1",
        ),
        (minimal(pruner={"name": "hyperband", "min_resource": 0}), "pruner.min_resource: must be"),
        (
            minimal(epochs=5, pruner={"name": "hyperband", "min_resource": 6}),
            "pruner.min_resource: must be <= max_resource (5, the study's epochs unless given)",
        ),
        (minimal(pruner={"name": "hyperband", "max_resource": 0}), "pruner.max_resource: must"),
        (minimal(pruner={"name": "sha", "reduction_factor": 0}), "pruner.reduction_factor: must"),
        (minimal(pruner={"name": "sha", "min_early_stopping_rate": -1}), "pruner.min_early_"),
        (minimal(pruner={"name": "sha", "bootstrap_count": 2}), "pruner.bootstrap_count: > 0"),
        (minimal(pruner={"name": "median", "n_startup_trials": -1}), "pruner.n_startup_trials"),
        (minimal(pruner={"name": "median", "n_warmup_steps": -1}), "pruner.n_warmup_steps"),
        (minimal(pruner={"name": "median", "interval_steps": 0}), "pruner.interval_steps: must"),
        (minimal(pruner={"name": "median", "n_min_trials": 0}), "pruner.n_min_trials: must"),
        (
            minimal(pruner={"name": "threshold", "lower": 2, "upper": 1}),
            "pruner: lower must be <= upper, got lower 2 and upper 1",
        ),
        (minimal(pruner={"name": "threshold", "lower": float("nan")}), "pruner.lower: must be"),
        (minimal(sampler={"name": "tpe", "n_startup_trials": -1}), "sampler.n_startup_trials"),
        (minimal(sampler={"name": "tpe", "n_ei_candidates": 0}), "sampler.n_ei_candidates"),
        (minimal(sampler={"name": "tpe", "group": True}), "sampler.group: needs multivariate"),
        (minimal(sampler={"name": "qmc", "qmc_type": "lhs"}), "sampler.qmc_type: must be one of"),
        (minimal(sampler={"name": "cmaes", "sigma0": 0}), "sampler.sigma0: must be a number > 0"),
        (minimal(sampler={"name": "cmaes", "restart_strategy": "x"}), "sampler.restart_strategy"),
        (minimal(sampler={"name": {"name": "tpe"}}), "sampler: must be one of tpe"),
        (minimal(pruner={"name": ["median"], "patience": 1}), "pruner.name: must be one of"),
    ],
)
def test_values_optuna_would_refuse_later_are_refused_now(
    raw: dict[str, Any], expected: str
) -> None:
    found = problems(raw)
    assert len(found) == 1 and found[0].startswith(expected), found


@pytest.mark.parametrize(
    ("sampler", "pruner"),
    [
        ({"name": "tpe", "seed": 2**32 - 1, "n_startup_trials": 0}, {"name": "none"}),
        ({"name": "random", "seed": 0}, {"name": "percentile", "percentile": 0}),
        ("tpe", {"name": "percentile", "percentile": 100, "interval_steps": 1}),
        ("tpe", {"name": "hyperband", "reduction_factor": 2, "min_resource": 1}),
        ("tpe", {"name": "sha", "min_early_stopping_rate": 0, "bootstrap_count": 0}),
        ("tpe", {"name": "patient", "patience": 0, "min_delta": 0}),
        ("tpe", {"name": "threshold", "lower": 1, "upper": 1, "n_warmup_steps": 0}),
        ({"name": "qmc", "qmc_type": "halton"}, "median"),
        ({"name": "tpe", "multivariate": True, "group": True}, "median"),
    ],
)
def test_the_edges_the_rules_accept_build_optunas_objects(sampler: Any, pruner: Any) -> None:
    spec = parse(minimal(sampler=sampler, pruner=pruner))
    make_sampler(spec)
    make_pruner(spec)


NAMES = ["a/b", "a:b", "50%", ".", "..", "..x", "x" * 501, "x" * 500, "a b", "ok-name_1.v2", "é"]


@pytest.mark.parametrize("name", NAMES, ids=lambda n: n[:12])
def test_a_name_is_refused_exactly_when_mlflow_refuses_it(name: str) -> None:
    try:
        _validate_model_name(name)
        _validate_experiment_name(name)
        mlflow_refuses = False
    except MlflowException:
        mlflow_refuses = True
    try:
        parse(minimal(name=name))
        refused = []
    except SpecError as exc:
        refused = exc.problems
    assert bool(refused) == mlflow_refuses, refused
    assert all(line.startswith("name: ") and len(line) < 200 for line in refused)
