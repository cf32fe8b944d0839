"""The grid: the lesson's 3 x 3 grid has nine cells, and the grid sampler visits each once."""

from __future__ import annotations

from automl.search.grid import grid_cells, grid_size
from automl.spec.rules import parse
from tests.test_search_space import sample
from tests.test_spec_rules import minimal


def test_the_lessons_grid_has_nine_cells() -> None:
    spec = parse(
        minimal(
            sampler="grid", params={"learning_rate": [0.1, 0.01, 0.001], "beta_1": [0.8, 0.88, 0.9]}
        )
    )
    assert spec.trials is None
    assert grid_size(spec) == 9


def test_grid_sampler_visits_every_cell_once() -> None:
    raw = {"learning_rate": [0.1, 0.01, 0.001], "beta_1": [0.8, 0.88, 0.9]}
    seen = {(h.learning_rate, h.beta_1) for h in sample(raw, 9, sampler="grid")}
    assert len(seen) == 9
    spec = parse({"name": "s", "sampler": "grid", "params": raw})
    assert grid_size(spec) == 9 and len(grid_cells(spec)) == 9
