"""Studies built trial by trial through Optuna's own API, on real storages.

Training real models for every results test would take minutes; these trials carry what
automl's objective leaves in the storage (per-epoch values, the `hyperparameters` user
attribute with β as β and `one_minus_beta_2` as the Optuna param, the seed, the MLflow run
id, a fail reason), so `best`, `studies` and the report read them as they read real ones.
"""

from __future__ import annotations

from typing import Any

import optuna
from optuna.distributions import CategoricalDistribution, FloatDistribution

from automl.search.space import Hyperparameters

SPACE = {
    "learning_rate": FloatDistribution(1e-4, 1.0, log=True),
    "beta_1": FloatDistribution(0.8, 0.95),
    "one_minus_beta_2": FloatDistribution(4e-4, 2e-2, log=True),
    "batch_norm": CategoricalDistribution([True, False]),
}


def add(
    study: optuna.Study,
    curve: list[float],
    *,
    lr: float = 1e-3,
    beta_1: float = 0.9,
    beta_2: float = 0.999,
    bn: bool = False,
    state: str = "COMPLETE",
    reason: str | None = None,
    extra_attrs: dict[str, Any] | None = None,
) -> optuna.trial.FrozenTrial:
    """Add one finished trial whose per-epoch metric is `curve`; COMPLETE ends on its last."""
    number = len(study.get_trials(deepcopy=False))
    hp = Hyperparameters(learning_rate=lr, beta_1=beta_1, beta_2=beta_2, batch_norm=bn)
    attrs: dict[str, Any] = {
        "hyperparameters": hp.as_dict(),
        "seed": 1000 + number,
        "mlflow_run_id": f"{number:032x}",
        "epochs": len(curve),
    }
    if reason is not None:
        attrs["fail_reason"] = reason
    attrs.update(extra_attrs or {})
    trial = optuna.trial.create_trial(
        state=optuna.trial.TrialState[state],
        value=curve[-1] if state == "COMPLETE" else None,
        params={
            "learning_rate": lr,
            "beta_1": beta_1,
            "one_minus_beta_2": 1.0 - beta_2,
            "batch_norm": bn,
        },
        distributions=dict(SPACE),
        user_attrs=attrs,
        intermediate_values={i + 1: v for i, v in enumerate(curve)},
    )
    study.add_trial(trial)
    return study.get_trials(deepcopy=False)[-1]


def bn_study(storage: Any, name: str = "bn", swap: bool = False) -> optuna.Study:
    """Trials where BN converges faster and survives learning rates that break plain models
    (the lesson's claim); `swap=True` flips the BN labels, so the study contradicts it."""
    study = optuna.create_study(study_name=name, storage=storage, direction="maximize")

    def bn(flag: bool) -> bool:
        return flag != swap

    add(study, [0.80, 0.95, 0.97, 0.98], lr=1e-3, beta_1=0.9, beta_2=0.999, bn=bn(True))
    add(study, [0.85, 0.96, 0.97, 0.975], lr=0.1, beta_1=0.85, beta_2=0.995, bn=bn(True))
    add(study, [0.70, 0.90, 0.95, 0.96], lr=0.5, beta_1=0.93, beta_2=0.9995, bn=bn(True))
    add(study, [0.50, 0.80, 0.93, 0.97], lr=1e-3, beta_1=0.82, beta_2=0.998, bn=bn(False))
    add(study, [0.30, 0.40, 0.50, 0.55], lr=0.1, beta_1=0.88, beta_2=0.99, bn=bn(False))
    add(
        study,
        [0.10],
        lr=0.5,
        beta_1=0.9,
        beta_2=0.999,
        bn=bn(False),
        state="FAIL",
        reason="diverged: loss became nan at epoch 2",
    )
    add(study, [0.20, 0.30], lr=0.01, beta_1=0.8, beta_2=0.99, bn=bn(False), state="PRUNED")
    return study
