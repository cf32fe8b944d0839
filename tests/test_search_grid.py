"""The grid: the lesson's 3 x 3 grid has nine cells, and the grid sampler visits each once."""

from __future__ import annotations

import time
import tracemalloc
from typing import Any

import pytest

from automl.errors import SpecError
from automl.search.grid import grid_cells, grid_size
from automl.spec.rules import parse
from automl.spec.schema import ParamSpec, Range, StudySpec
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


def test_a_huge_grid_is_counted_without_spreading_it() -> None:
    base = parse(minimal(sampler="grid", params={"batch_norm": [True, False]}))
    huge = tuple(
        ParamSpec(n, "float", Range(0.01, 0.5, num=10**6)) for n in ("beta_1", "l2", "momentum")
    )
    spec = StudySpec(**{**base.__dict__, "params": huge})
    tracemalloc.start()
    start = time.monotonic()
    assert grid_size(spec) == 10**18
    assert time.monotonic() - start < 1
    assert tracemalloc.get_traced_memory()[1] < 10**6
    tracemalloc.stop()


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        (
            {n: {"low": 0.01, "high": 0.5, "num": 1000} for n in ("beta_1", "l2", "momentum")},
            "params: the grid has 1000000000 cells (beta_1 1000 x l2 1000 x momentum 1000), "
            "more than the cap of 100000",
        ),
        (
            {"l2": [0.0, 0.1, 0.2], "depth": {"low": 1, "high": 12}, "width": [8, 16, 32, 64]}
            | {"dropout": {"low": 0.0, "high": 0.9, "step": 0.001}},
            "params: the grid has 12",
        ),
        (
            {"l2": {"low": 0, "high": 1, "step": 1e-12}},
            "params.l2: spreads over 1000000000001 grid points, more than the cap of 10000",
        ),
        (
            {"l2": {"low": 0, "high": 1, "step": 1e-320}},
            "params.l2: spreads over 1e+300 grid points, more than the cap of 10000",
        ),
        (
            {"l2": {"low": 0, "high": 1, "num": 10**12}},
            "params.l2.num: must be an integer from 2 to 10000, got 1000000000000",
        ),
        (
            {"batch_size": {"low": 1, "high": 65536}},
            "params.batch_size: spreads over 65536 grid points, more than the cap of 10000",
        ),
    ],
    ids=["three params", "four params", "tiny step", "tinier step", "num", "int range"],
)
def test_a_grid_past_the_cap_is_one_line_with_the_cap_and_the_size(
    params: dict[str, Any], expected: str
) -> None:
    with pytest.raises(SpecError) as info:
        parse(minimal(sampler="grid", params=params))
    (line,) = info.value.lines()
    assert line.startswith(expected)


def test_a_grid_at_the_cap_is_accepted() -> None:
    params = {"l2": {"low": 0, "high": 1, "num": 10_000}, "batch_norm": [True, False]}
    spec = parse(minimal(sampler="grid", params=params))
    assert grid_size(spec) == 20_000 == len(grid_cells(spec))
    depth = parse(minimal(sampler="grid", params={"depth": {"low": 1, "high": 12, "num": 10_000}}))
    assert grid_size(depth) == 12
