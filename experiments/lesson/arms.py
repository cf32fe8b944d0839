"""The lesson's study files in studies/lesson/: one arm each of a claim's comparison."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STUDIES = ROOT / "studies" / "lesson"


@dataclass(frozen=True)
class Arm:
    """One study file of a claim's comparison."""

    claim: int
    key: str
    file: str


ARMS = (
    Arm(1, "linear", "claim1_lr_linear.yaml"),
    Arm(1, "log", "claim1_lr_log.yaml"),
    Arm(2, "linear", "claim2_beta2_linear.yaml"),
    Arm(2, "log1m", "claim2_beta2_log1m.yaml"),
    Arm(2, "pairs", "claim2_beta_pairs.yaml"),
    Arm(3, "grid", "claim3_bn_lr_grid.yaml"),
    Arm(4, "grid", "claim4_full_grid.yaml"),
    Arm(4, "tpe_hyperband", "claim4_tpe_hyperband.yaml"),
)
