"""A StudySpec's sampler and pruner as Optuna objects, and the optional packages they need.

The spec names a row of `SAMPLERS` or `PRUNERS` and options already checked against it, so
each option passes straight to the Optuna class as a keyword argument.
"""

from __future__ import annotations

import importlib.util

import optuna

from automl.errors import MissingExtraError
from automl.search.grid import grid_space
from automl.spec.schema import StudySpec


def check_requirements(spec: StudySpec) -> None:
    """Optional packages the file's choices need, named before anything runs."""
    if spec.sampler.name == "gp" and importlib.util.find_spec("torch") is None:
        raise MissingExtraError(
            "sampler gp needs PyTorch: pip install 'automl[gp]' (or pip install torch)"
        )
    if spec.sampler.name == "cmaes" and importlib.util.find_spec("cmaes") is None:
        raise MissingExtraError("sampler cmaes needs the cmaes package: pip install cmaes")


def make_sampler(spec: StudySpec, stream: int = 0) -> optuna.samplers.BaseSampler:
    """The file's sampler. Each worker process passes its own `stream`: with one seed for all,
    every worker (and every fresh one replacing a retired worker) would draw the same points.
    The grid is the exception: its seed shuffles the cells, and every worker must agree on
    which cell each grid id is."""
    check_requirements(spec)
    options = spec.sampler.options.kwargs()
    seed = options.pop("seed", spec.seed)
    if seed is not None and stream and spec.sampler.name != "grid":
        seed = (seed + stream * 1_000_003) % 2**32
    name = spec.sampler.name
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed, **options)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "grid":
        return optuna.samplers.GridSampler(grid_space(spec), seed=seed)
    if name == "qmc":
        return optuna.samplers.QMCSampler(seed=seed, **options)
    if name == "cmaes":
        return optuna.samplers.CmaEsSampler(seed=seed, **options)
    if name == "gp":
        return optuna.samplers.GPSampler(seed=seed, **options)
    raise ValueError(f"unknown sampler {name}")


def make_pruner(spec: StudySpec) -> optuna.pruners.BasePruner:
    """The file's pruner; Hyperband's largest resource is the study's epochs unless given."""
    options = spec.pruner.options.kwargs()
    name = spec.pruner.name
    if name == "none":
        return optuna.pruners.NopPruner()
    if name == "median":
        return optuna.pruners.MedianPruner(**options)
    if name == "percentile":
        return optuna.pruners.PercentilePruner(**{"percentile": 25.0, **options})
    if name == "hyperband":
        options.setdefault("max_resource", spec.epochs)
        return optuna.pruners.HyperbandPruner(**options)
    if name == "sha":
        return optuna.pruners.SuccessiveHalvingPruner(**options)
    if name == "patient":
        wrapped = (
            optuna.pruners.MedianPruner() if options.pop("wrapped", None) == "median" else None
        )
        return optuna.pruners.PatientPruner(wrapped, **options)
    if name == "threshold":
        return optuna.pruners.ThresholdPruner(**options)
    raise ValueError(f"unknown pruner {name}")
