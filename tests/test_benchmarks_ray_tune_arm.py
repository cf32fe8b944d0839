"""Ray Tune's arm asks, through Ray's own OptunaSearch, the space automl's study file searches."""

from __future__ import annotations

import functools

import pytest

from automl.search.space import optuna_name
from automl.spec.rules import parse
from benchmarks.harness import workload


def test_optuna_search_asks_the_study_files_space_and_seeds_trials_as_the_script_does() -> None:
    pytest.importorskip(
        "ray.tune",
        reason="Ray Tune is not installed: pip install -e '.[bench]'",
        exc_type=ImportError,
    )
    from ray.tune.search.optuna import OptunaSearch

    from benchmarks.ray_tune_arm import METRIC, space

    search = OptunaSearch(space=functools.partial(space, 4), metric=METRIC, mode="max", seed=4)
    configs = [search.suggest(f"trial-{i}") for i in range(3)]
    searched = {optuna_name(p, grid=False) for p in parse(workload.study_file("b", 4)).searched}
    for number, config in enumerate(configs):
        assert config is not None
        assert config.pop("trial_seed") == 4 * 1_000_003 + number
        assert set(config) == searched
        hp = workload.hyperparameters(config)
        assert 1e-4 <= hp.learning_rate <= 1e-1 and 0.8 <= hp.beta_1 <= 0.99
        assert isinstance(hp.width, int) and 8 <= hp.width <= 128
