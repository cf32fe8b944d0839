"""A StudySpec's params as Optuna suggestions, grids, and the hyperparameters of one trial.

Ranges on `scale: log1m` are searched as the Optuna parameter `one_minus_<name>`,
log-uniform in 1 − β, so TPE models the quantity that matters (1/(1 − β) is the averaging
horizon). Everything a user reads (progress, `best`, MLflow, the trial's `hyperparameters`
user attribute) shows β itself.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from automl.spec.params import grid_values
from automl.spec.schema import Scalar, StudySpec

if TYPE_CHECKING:
    pass


def grid_space(spec: StudySpec) -> dict[str, list[Scalar]]:
    """The grid GridSampler walks: each searched parameter's values."""
    return {p.name: list(grid_values(p)) for p in spec.searched}


def grid_cells(spec: StudySpec) -> list[dict[str, Scalar]]:
    """Every combination of the grid, in a stable order."""
    cells: list[dict[str, Scalar]] = [{}]
    for name, values in grid_space(spec).items():
        cells = [{**cell, name: v} for cell in cells for v in values]
    return cells


def grid_size(spec: StudySpec) -> int:
    return math.prod(len(v) for v in grid_space(spec).values())
