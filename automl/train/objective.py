"""One trial: suggest, build, fit with per-epoch reports and pruning, hand the outcome over.

A trial that cannot train (a NaN loss, a loss that explodes, a model that does not build)
raises `TrialFailed` with its reason kept in a user attribute (`automl.keys.FAIL_REASON_ATTR`);
the study catches it and goes on. A trial is worth its best epoch (its weights put back) or
its last. Given a checkpoint folder, a trial saves its state every `checkpoint_every` epochs
and a retry of it (same parameters, same seed) resumes from the last one
(`automl.train.resume`); the checkpoints are deleted once the trial ends, kept when it is
interrupted (it is queued again and resumes).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import optuna

from automl.data.dataset import Dataset
from automl.data.pipeline import pipelines
from automl.keys import (
    BEST_EPOCH_ATTR,
    EPOCHS_ATTR,
    FAIL_REASON_ATTR,
    FAILED_TRIAL_ATTR,
    FIT_SECONDS_ATTR,
    HYPERPARAMETERS_ATTR,
    QUEUED_AGAIN,
    SEED_ATTR,
)
from automl.search.space import Hyperparameters, suggest
from automl.spec.schema import StudySpec
from automl.train.checkpoint import TrialCheckpoints, discard, fingerprint, trial_folder
from automl.train.model import build_model, build_training_state, clear_keras_state
from automl.train.resume import EpochCheckpoint, checkpoint_facts


class TrialFailed(Exception):
    """The trial could not produce a value; its reason is in its `FAIL_REASON_ATTR` attribute."""


@dataclass
class Outcome:
    """What a finished trial leaves for the tracker: its curves and (if it trained) its model."""

    number: int
    hyperparameters: Hyperparameters
    seed: int
    history: list[dict[str, float]] = field(default_factory=list)
    model: keras.Model | None = None
    value: float | None = None  # what the trial returns, set once it has trained
    best_epoch: int | None = None  # the epoch `value` and the model come from (1-based)
    fit_seconds: float = 0.0


def trial_seed(study_seed: int | None, number: int) -> int:
    """A trial's seed, derived from the study's seed and the number of the configuration's
    first trial (`first_trial`): a retry trains with its failure's seed (reproducible)."""
    return ((study_seed or 0) * 1_000_003 + number) % (2**31 - 1)


def first_trial(trial: optuna.Trial) -> int:
    """The number of the first trial of this configuration: the failure a retry replaces
    (Optuna's `failed_trial` record), else the trial's own."""
    storage = getattr(trial, "storage", None)
    if storage is None:  # a FixedTrial, as `automl export` retrains with
        return trial.number
    study_id = storage.get_study_id_from_name(trial.study.study_name)
    trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, trial.number)
    return int(storage.get_trial_system_attrs(trial_id).get(FAILED_TRIAL_ATTR, trial.number))


def untrained_loss(num_classes: int) -> float:
    """The cross-entropy of a softmax over `num_classes` that knows nothing: ln(C)."""
    return math.log(max(num_classes, 2))


def short(value: float) -> str:
    """A number as a reason shows it: `2.303`, `1405`, and `1.3e11` rather than `1.3e+11`."""
    return f"{value:.4g}" if abs(value) < 1e4 else f"{value:.2g}".replace("e+", "e")


@dataclass(frozen=True)
class Divergence:
    """When a finite training loss has diverged: above `factor` times the untrained loss."""

    factor: float | None
    start: float  # the untrained model's loss

    def reason(self, loss: float, epoch: int) -> str | None:
        if self.factor is None or loss <= self.factor * self.start:
            return None
        return (
            f"loss {short(loss)} at epoch {epoch}, started at {short(self.start)} "
            f"(more than diverge_factor {short(self.factor)} times that)"
        )


class EpochReporter(keras.callbacks.Callback):
    """Reports the metric to Optuna after every epoch, prunes, and stops on a diverged loss
    (NaN, infinite, or beyond `divergence`)."""

    def __init__(
        self,
        trial: optuna.Trial,
        metric: str,
        history: list[dict[str, float]],
        divergence: Divergence | None = None,
    ):
        super().__init__()
        self.trial = trial
        self.metric = metric
        self.history = history
        self.divergence = divergence or Divergence(None, 0.0)
        self.diverged: str | None = None

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = {k: float(v) for k, v in (logs or {}).items()}
        self.history.append(logs)
        bad = [k for k in ("loss", self.metric) if k in logs and not math.isfinite(logs[k])]
        if bad:
            self.diverged = f"{bad[0]} became {logs[bad[0]]} at epoch {epoch + 1}"
        elif "loss" in logs:
            self.diverged = self.divergence.reason(logs["loss"], epoch + 1)
        if self.diverged is not None:
            self.model.stop_training = True
            return
        if self.metric not in logs:
            raise KeyError(f"metric {self.metric} is not among the logs {sorted(logs)}")
        self.trial.report(logs[self.metric], step=epoch + 1)
        if self.trial.should_prune():
            raise optuna.TrialPruned(f"pruned at epoch {epoch + 1}")


class BestEpoch(keras.callbacks.Callback):
    """Remembers the epoch with the best metric and a copy of its weights (BN statistics too),
    to put back once training ends: KerasTuner's per-trial checkpoint, Keras's
    `EarlyStopping(restore_best_weights=True)`. A copy is taken per improving epoch only
    (its cost is measured by `python -m benchmarks.hot_path --only best_epoch`)."""

    def __init__(self, metric: str, direction: str) -> None:
        super().__init__()
        self.metric = metric
        self.sign = 1.0 if direction == "maximize" else -1.0
        self.best: tuple[float, int] | None = None  # (value, 1-based epoch)
        self.weights: list[Any] = []

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        value = (logs or {}).get(self.metric)
        if value is None or not math.isfinite(value):
            return
        if self.best is None or self.sign * value > self.sign * self.best[0]:
            self.best = (float(value), epoch + 1)
            self.weights = self.model.get_weights()

    def restore(self) -> None:
        self.model.set_weights(self.weights)


def _record_training(trial: optuna.Trial, out: Outcome) -> None:
    """Epochs trained and seconds inside `model.fit`: the rest of the trial is overhead."""
    trial.set_user_attr(EPOCHS_ATTR, len(out.history))
    trial.set_user_attr(FIT_SECONDS_ATTR, round(out.fit_seconds, 3))


def fail(trial: optuna.Trial, reason: str) -> TrialFailed:
    trial.set_user_attr(FAIL_REASON_ATTR, reason)
    return TrialFailed(reason)


class Objective:
    """The callable Optuna optimizes; `on_outcome` receives each trial's curves and model.

    `checkpoints`: the study's checkpoint folder, which every worker of the study can read;
    None trains without checkpoints."""

    def __init__(
        self,
        spec: StudySpec,
        data: Dataset,
        on_start: Callable[[optuna.Trial, Hyperparameters], None] | None = None,
        on_outcome: Callable[[Outcome], None] | None = None,
        checkpoints: Path | None = None,
    ) -> None:
        self.spec = spec
        self.data = data
        self.on_start = on_start
        self.on_outcome = on_outcome
        self.checkpoints = checkpoints if spec.checkpoint_every > 0 else None

    def __call__(self, trial: optuna.Trial) -> float:
        hp = suggest(trial, self.spec)
        first = first_trial(trial)
        seed = trial_seed(self.spec.seed, first)
        trial.set_user_attr(HYPERPARAMETERS_ATTR, hp.as_dict())
        trial.set_user_attr(SEED_ATTR, seed)
        if self.on_start is not None:
            self.on_start(trial, hp)
        outcome = Outcome(trial.number, hp, seed)
        folder = trial_folder(self.checkpoints, first) if self.checkpoints else None
        ended = True
        try:
            return self._train(trial, hp, seed, outcome, folder)
        except KeyboardInterrupt:
            ended = False  # queued again: its retry resumes from the checkpoints
            trial.set_user_attr(FAIL_REASON_ATTR, f"interrupted (Ctrl-C); {QUEUED_AGAIN}")
            raise
        finally:
            if ended and folder is not None:
                discard(folder)
            if self.on_outcome is not None:
                self.on_outcome(outcome)

    def _train(
        self, trial: optuna.Trial, hp: Hyperparameters, seed: int, out: Outcome, folder: Path | None
    ) -> float:
        # Keras keeps a global name registry and graph state; reset it before each trial.
        clear_keras_state()
        keras.utils.set_random_seed(seed)
        try:
            model = build_model(
                hp, self.data.input_shape, self.data.num_classes, self.data.input_scale
            )
        except ValueError as exc:
            raise fail(trial, f"the model does not build: {exc}") from None
        train, val = pipelines(self.data, hp.batch_size, seed)
        divergence = Divergence(self.spec.diverge_factor, untrained_loss(self.data.num_classes))
        reporter = EpochReporter(trial, self.spec.metric, out.history, divergence)
        best = BestEpoch(self.spec.metric, self.spec.direction)
        callbacks: list[keras.callbacks.Callback] = [reporter]
        if self.spec.restore_best_weights:
            callbacks.insert(0, best)  # before a prune or a stop can end the epoch
        try:
            build_training_state(model, self.data.x_train[:2], self.data.y_train[:2])
            done = 0
            if folder is not None:
                facts = checkpoint_facts(self.spec, self.data, hp, seed, model)
                kept = best if self.spec.restore_best_weights else None
                saver = EpochCheckpoint(
                    TrialCheckpoints(folder, fingerprint(facts)), self.spec, out.history, kept
                )
                done = saver.resume(trial, model, train)
                callbacks.append(saver)  # after the reporter: a pruned epoch is not saved
            started = time.perf_counter()
            try:
                model.fit(
                    train,
                    validation_data=val,
                    initial_epoch=done,
                    epochs=self.spec.epochs,
                    callbacks=callbacks,
                    shuffle=False,
                    verbose=0,  # the pipeline shuffles
                )
            finally:
                out.fit_seconds = time.perf_counter() - started
        except optuna.TrialPruned:
            _record_training(trial, out)
            raise
        except Exception as exc:  # noqa: BLE001 - any training error fails this trial only
            raise fail(trial, f"training failed: {type(exc).__name__}: {exc}") from None
        _record_training(trial, out)
        if reporter.diverged is not None:
            raise fail(trial, f"diverged: {reporter.diverged}")
        value, epoch = out.history[-1][self.spec.metric], len(out.history)
        if self.spec.restore_best_weights and best.best is not None:
            best.restore()
            value, epoch = best.best
        out.value, out.best_epoch, out.model = value, epoch, model
        trial.set_user_attr(BEST_EPOCH_ATTR, epoch)
        return value
