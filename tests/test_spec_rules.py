"""Every rule of the study file: what is accepted, and the one line each mistake gets."""

from __future__ import annotations

from typing import Any

import pytest

from automl.errors import SpecError
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
