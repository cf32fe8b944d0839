"""A StudySpec's grid: the values `GridSampler` walks, every cell, and how many there are
(counted without spreading them: the rules cap a grid, but a count never needs the cells)."""

from __future__ import annotations

import math

from automl.spec.params import grid_count, grid_values
from automl.spec.schema import Scalar, StudySpec


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
    """How many cells the grid has: the trials a grid study runs."""
    return math.prod(grid_count(p) for p in spec.searched)
