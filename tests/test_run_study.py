"""Samplers and pruners from their names, the budget, and a study refusing a changed space."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import optuna
import pytest

from automl.errors import MissingExtraError, StorageError
from automl.run.study import budget, open_study
from automl.search.factories import check_requirements, make_pruner, make_sampler
from automl.search.space import suggest
from automl.spec.rules import parse
from automl.spec.schema import PRUNERS

SPACE = {
    "learning_rate": {"low": 1e-4, "high": 1e-1, "log": True},
    "beta_2": {"low": 0.99, "high": 0.9999, "scale": "log1m"},
    "depth": {"low": 1, "high": 3},
    "batch_norm": [True, False],
}


@pytest.mark.parametrize("name", ["tpe", "random", "qmc", "cmaes"])
def test_each_sampler_samples_inside_the_space(name: str) -> None:
    spec = parse({"name": "s", "sampler": {"name": name, "seed": 1}, "params": SPACE})
    study = optuna.create_study(sampler=make_sampler(spec))
    seen = []

    def objective(trial: optuna.Trial) -> float:
        hp = suggest(trial, spec)
        seen.append(hp)
        return hp.learning_rate

    study.optimize(objective, n_trials=12)
    assert len(seen) == 12
    assert all(1e-4 <= h.learning_rate <= 1e-1 and 0.99 <= h.beta_2 <= 0.9999 for h in seen)
    assert len({h.learning_rate for h in seen}) == 12


@pytest.mark.skipif(importlib.util.find_spec("torch") is not None, reason="torch is installed")
def test_gp_without_torch_names_what_to_install() -> None:
    spec = parse({"name": "s", "sampler": "gp", "params": SPACE})
    with pytest.raises(MissingExtraError, match=r"sampler gp needs PyTorch: pip install"):
        check_requirements(spec)


@pytest.mark.parametrize("name", sorted(PRUNERS))
def test_each_pruner_is_built_with_its_options(name: str) -> None:
    options = {
        "patient": {"patience": 2, "wrapped": "median"},
        "threshold": {"lower": 0.5},
        "hyperband": {"reduction_factor": 2},
        "percentile": {"percentile": 40},
    }
    spec = parse({"name": "s", "epochs": 7, "pruner": {"name": name, **options.get(name, {})}})
    pruner = make_pruner(spec)
    expected = {
        "none": "NopPruner",
        "median": "MedianPruner",
        "percentile": "PercentilePruner",
        "hyperband": "HyperbandPruner",
        "sha": "SuccessiveHalvingPruner",
        "patient": "PatientPruner",
        "threshold": "ThresholdPruner",
    }[name]
    assert type(pruner).__name__ == expected
    if name == "hyperband":
        assert pruner._max_resource == 7  # the study's epochs


def test_budget_counts_the_grid_when_trials_is_not_given() -> None:
    grid = parse(
        {
            "name": "g",
            "sampler": "grid",
            "params": {"learning_rate": [0.1, 0.01, 0.001], "beta_1": [0.8, 0.88, 0.9]},
        }
    )
    assert budget(grid) == 9 and budget(grid, 4) == 4
    assert budget(parse({"name": "t", "trials": 7})) == 7
    assert budget(parse({"name": "t", "trials": 7}), 12) == 12


def test_a_study_refuses_a_changed_search_space(tmp_path: Path) -> None:
    storage = str(tmp_path / "s.journal")
    first = parse({"name": "s", "params": {"learning_rate": [0.1, 0.01]}})
    study = open_study(first, storage)
    study.enqueue_trial({"learning_rate": 0.1})
    assert open_study(first, storage).study_name == "s"  # the same file joins
    changed = parse({"name": "s", "params": {"learning_rate": [0.5, 0.05]}})
    with pytest.raises(StorageError, match=r"params.learning_rate differ\); pick a new name"):
        open_study(changed, storage)
    assert len(optuna.load_study(study_name="s", storage=study._storage).trials) == 1
    # Values of the best epoch and of the last one do not compare either.
    last_epoch = parse(
        {"name": "s", "params": {"learning_rate": [0.1, 0.01]}, "restore_best_weights": False}
    )
    with pytest.raises(StorageError, match=r"\(restore_best_weights differ\); pick a new name"):
        open_study(last_epoch, storage)


def test_each_worker_stream_draws_other_points() -> None:
    spec = parse({"name": "s", "sampler": {"name": "random", "seed": 0}, "params": SPACE})

    def first_draws(stream: int) -> list[float]:
        study = optuna.create_study(sampler=make_sampler(spec, stream))
        study.optimize(lambda t: suggest(t, spec).learning_rate, n_trials=3)
        return [t.params["learning_rate"] for t in study.trials]

    assert first_draws(0) == first_draws(0)  # a seeded study repeats itself
    assert first_draws(1) != first_draws(0) and first_draws(2) != first_draws(1)


def test_grid_workers_share_one_cell_order() -> None:
    spec = parse(
        {
            "name": "g",
            "sampler": {"name": "grid", "seed": 0},
            "params": {"learning_rate": [0.1, 0.01, 0.001], "beta_1": [0.8, 0.9]},
        }
    )
    orders = [make_sampler(spec, stream)._all_grids for stream in (0, 1, 5)]
    assert orders[0] == orders[1] == orders[2]
