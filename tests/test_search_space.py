"""The search space: log and log1m ranges spread as the lesson says; defaults fill the rest."""

from __future__ import annotations

import math
from typing import Any

import optuna

from automl.search.factories import make_sampler
from automl.search.space import Hyperparameters, describe, suggest
from automl.spec.rules import parse


def sample(raw_params: dict[str, Any], n: int, sampler: str = "random") -> list[Hyperparameters]:
    spec = parse({"name": "s", "sampler": {"name": sampler, "seed": 0}, "params": raw_params})
    study = optuna.create_study(sampler=make_sampler(spec))
    out: list[Hyperparameters] = []

    def objective(trial: optuna.Trial) -> float:
        out.append(suggest(trial, spec))
        return 0.0

    study.optimize(objective, n_trials=n)
    return out


def test_log_range_spreads_evenly_over_decades() -> None:
    values = [
        h.learning_rate
        for h in sample({"learning_rate": {"low": 1e-4, "high": 1e-1, "log": True}}, 300)
    ]
    decades = [sum(1 for v in values if 10**-k / 10 <= v < 10**-k) for k in (3, 2, 1)]
    assert all(60 <= d <= 140 for d in decades), decades  # about 100 in each decade
    assert min(values) >= 1e-4 and max(values) <= 1e-1


def test_log1m_spreads_evenly_in_one_minus_beta() -> None:
    values = [
        h.beta_2 for h in sample({"beta_2": {"low": 0.99, "high": 0.9999, "scale": "log1m"}}, 300)
    ]
    assert all(0.99 <= v <= 0.9999 for v in values)
    above = sum(1 for v in values if v > 0.999)
    # Half the mass lies in 0.999..0.9999 (1 - β from 1e-4 to 1e-3); a linear range gives 10%.
    assert 110 <= above <= 190, above


def test_log1m_is_searched_as_one_minus_beta_and_shown_as_beta() -> None:
    spec = parse(
        {"name": "s", "params": {"beta_2": {"low": 0.99, "high": 0.9995, "scale": "log1m"}}}
    )
    study = optuna.create_study()
    trial = study.ask()
    hp = suggest(trial, spec)
    (name,) = trial.params
    assert name == "one_minus_beta_2"
    assert math.isclose(hp.beta_2, 1 - trial.params[name])
    assert describe(spec) == ["beta_2: 0.99..0.9995, log-uniform in 1 - β"]


def test_fixed_values_and_defaults_fill_the_rest() -> None:
    (hp,) = sample({"depth": 3, "batch_norm": [True, False]}, 1)
    assert hp.depth == 3 and hp.learning_rate == 1e-3 and hp.optimizer == "adam"


def test_integer_log_range() -> None:
    widths = [h.width for h in sample({"width": {"low": 8, "high": 128, "log": True}}, 100)]
    assert all(isinstance(w, int) and 8 <= w <= 128 for w in widths)
    assert sum(1 for w in widths if w < 32) > 30  # half the log range lies below 32
