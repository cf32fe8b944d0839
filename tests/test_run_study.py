"""Samplers and pruners from their names, the budget, and a study refusing a changed space."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
from pathlib import Path

import optuna
import pytest
from optuna.distributions import CategoricalDistribution
from typer.testing import CliRunner

from automl.cli.app import app
from automl.errors import MissingExtraError, StorageError
from automl.keys import SPACE_ATTR, SPEC_ATTR
from automl.run.storage import open_storage
from automl.run.study import budget, open_study, space_fingerprint
from automl.search.factories import check_requirements, make_pruner, make_sampler
from automl.search.space import suggest
from automl.spec.reading import load_spec
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


def _finished(storage: str, seed: object) -> optuna.Study:
    """A study of the file `seed: SEED` with a COMPLETE trial, as a run leaves it."""
    fields = {"name": "s", "params": {"learning_rate": [0.1, 0.01]}}
    study = open_study(parse({**fields, "seed": seed} if seed is not None else fields), storage)
    study.enqueue_trial({"learning_rate": 0.1})
    trial = study.ask()
    trial.suggest_categorical("learning_rate", [0.1, 0.01])
    study.tell(trial, 0.5)
    return study


@pytest.mark.parametrize(
    ("stored", "asked", "joins"),
    [
        (0, 7, False),
        (None, 7, False),
        (7, 0, False),
        (7, None, False),
        (3, 4, False),
        (None, 0, True),  # no seed is seed 0: the same split and trial seeds
        (7, 7, True),
    ],
)
def test_a_changed_seed_is_refused_like_a_changed_space_and_nothing_is_rewritten(
    tmp_path: Path, stored: int | None, asked: int | None, joins: bool
) -> None:
    storage = str(tmp_path / "s.journal")
    study = _finished(storage, stored)
    before = dict(study.user_attrs)
    fields = {"name": "s", "params": {"learning_rate": [0.1, 0.01]}}
    changed = parse({**fields, "seed": asked} if asked is not None else fields)
    if joins:
        assert open_study(changed, storage).study_name == "s"
        return
    with pytest.raises(StorageError) as refused:
        open_study(changed, storage)
    assert str(refused.value) == (
        "study s already has trials of another search space (seed differ); "
        "pick a new name (--set name=...)"
    )
    after = optuna.load_study(study_name="s", storage=open_storage(storage)).user_attrs
    assert after == before


def test_the_samplers_seed_may_change_as_with_optuna(tmp_path: Path) -> None:
    storage = str(tmp_path / "s.journal")
    _finished(storage, 5)
    spec = parse(
        {
            "name": "s",
            "seed": 5,
            "sampler": {"name": "random", "seed": 99},
            "params": {"learning_rate": [0.1, 0.01]},
        }
    )
    assert open_study(spec, storage).study_name == "s"


@pytest.mark.parametrize(
    ("stored_spec", "asked", "joins"), [(3, 3, True), (3, 4, False), ("none", 4, True)]
)
def test_a_study_stored_before_the_seed_was_fingerprinted_keeps_working(
    tmp_path: Path, stored_spec: object, asked: int, joins: bool
) -> None:
    """Its fingerprint has no seed: the study file stored with it says which it ran with."""
    storage = str(tmp_path / "s.journal")
    spec = parse({"name": "s", "seed": 3, "params": {"learning_rate": [0.1, 0.01]}})
    study = optuna.create_study(
        study_name="s", storage=open_storage(storage), direction=spec.direction
    )
    old = {k: v for k, v in space_fingerprint(spec).items() if k != "seed"}
    study.set_user_attr(SPACE_ATTR, json.dumps(old, sort_keys=True))
    if stored_spec != "none":  # older still: no study file stored either
        study.set_user_attr(SPEC_ATTR, json.dumps(dataclasses.asdict(spec), sort_keys=True))
    study.add_trial(
        optuna.trial.create_trial(
            value=0.5,
            params={"learning_rate": 0.1},
            distributions={"learning_rate": CategoricalDistribution([0.1, 0.01])},
        )
    )
    spec = parse({"name": "s", "seed": asked, "params": {"learning_rate": [0.1, 0.01]}})
    if joins:
        assert open_study(spec, storage).study_name == "s"
    else:
        with pytest.raises(StorageError, match=r"\(seed differ\)"):
            open_study(spec, storage)


def test_run_with_another_seed_on_a_finished_study_is_one_line_and_changes_nothing(
    workdir: Path,
) -> None:
    storage = str(workdir / "automl.journal")
    spec_path = workdir / "s.yaml"
    spec_path.write_text(
        "name: s\ndataset: digits\nseed: 0\nparams:\n  learning_rate: [0.1, 0.01]\n"
    )
    study = open_study(load_spec(spec_path), storage)
    trial = study.ask()
    trial.suggest_categorical("learning_rate", [0.1, 0.01])
    study.tell(trial, 0.5)
    before = Path(storage).read_bytes()
    result = CliRunner().invoke(
        app, ["run", str(spec_path), "--set", "seed=7", "--storage", storage]
    )
    assert result.exit_code == 2
    (line,) = result.output.strip().splitlines()
    assert line == (
        "error: study s already has trials of another search space (seed differ); "
        "pick a new name (--set name=...)"
    )
    assert (
        json.loads(
            optuna.load_study(study_name="s", storage=open_storage(storage)).user_attrs[SPEC_ATTR]
        )["seed"]
        == 0
    )
    assert Path(storage).read_bytes().startswith(before)
