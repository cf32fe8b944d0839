"""A parameter's grid: `num:` spreads its points on the range's scale, integers stay whole."""

from __future__ import annotations

from automl.spec.params import grid_values
from automl.spec.rules import parse
from tests.test_spec_rules import minimal


def test_grid_num_spreads_points_on_the_scale() -> None:
    spec = parse(
        minimal(
            sampler="grid",
            params={
                "learning_rate": {"low": 1e-4, "high": 1e-1, "log": True, "num": 4},
                "beta_2": {"low": 0.99, "high": 0.9999, "scale": "log1m", "num": 3},
                "dropout": {"low": 0.0, "high": 0.5, "num": 3},
                "depth": {"low": 1, "high": 3},
            },
        )
    )
    values = {p.name: grid_values(p) for p in spec.params}
    assert values["learning_rate"] == (1e-4, 1e-3, 1e-2, 1e-1)
    assert values["beta_2"] == (0.99, 0.999, 0.9999)
    assert values["dropout"] == (0.0, 0.25, 0.5)
    assert values["depth"] == (1, 2, 3)
