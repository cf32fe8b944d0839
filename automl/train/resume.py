"""A trial's training saved every few epochs and taken up again by its retry: the Keras side of
`automl.train.checkpoint`.

A resumed trial ends where an uninterrupted one of the same parameters and seed ends: it
builds the same model and pipelines from the same seed, puts back every variable (weights,
batch-normalization statistics, the random layers' seed states, the optimizer's step and
moments) and moves the training pipeline's shuffle on by the epochs already trained, so the
remaining epochs see the same batches in the same order.
"""

from __future__ import annotations

import sys
import time
from typing import Any, Protocol

import keras
import optuna
import tensorflow as tf

from automl.data.dataset import Dataset
from automl.keys import RESUMED_FROM_EPOCH_ATTR, RESUMED_SECONDS_ATTR
from automl.search.space import Hyperparameters
from automl.spec.schema import StudySpec
from automl.train.checkpoint import Checkpoint, TrialCheckpoints

# Keras 3's fit makes two iterators of the training data per epoch (one at the epoch's start,
# one it drops at the epoch's end), and each draws the next shuffle from the pipeline's seeded
# generator. A resumed trial makes as many before `fit` so its next epoch draws the shuffle
# the uninterrupted trial drew; tests/test_train_resume.py fails if Keras changes this.
ITERATORS_PER_EPOCH = 2


class Best(Protocol):
    """What a checkpoint keeps of `automl.train.objective.BestEpoch`."""

    best: tuple[float, int] | None
    weights: list[Any]


def model_facts(model: keras.Model) -> dict[str, Any]:
    """The architecture and optimizer a checkpoint's variables belong to."""
    return {
        "model": model.to_json(),
        "optimizer": type(model.optimizer).__name__,
        "optimizer_variables": [(v.path, tuple(v.shape)) for v in model.optimizer.variables],
        "keras": keras.__version__,
    }


def capture(
    model: keras.Model,
    epoch: int,
    history: list[dict[str, float]],
    fit_seconds: float,
    best: Best | None,
) -> Checkpoint:
    """The trial's state at the end of `epoch` (1-based)."""
    return Checkpoint(
        epoch=epoch,
        model=[v.numpy() for v in model.variables],
        optimizer=[v.numpy() for v in model.optimizer.variables],
        history=[dict(logs) for logs in history[:epoch]],
        fit_seconds=fit_seconds,
        best=best.best if best is not None else None,
        best_weights=list(best.weights) if best is not None and best.best else [],
    )


def restore(
    model: keras.Model, checkpoint: Checkpoint, train: tf.data.Dataset, best: Best | None
) -> None:
    """Put a checkpoint's state back into a freshly built model, its pipeline and `best`."""
    for variable, value in zip(model.variables, checkpoint.model, strict=True):
        variable.assign(value)
    for variable, value in zip(model.optimizer.variables, checkpoint.optimizer, strict=True):
        variable.assign(value)
    for _ in range(ITERATORS_PER_EPOCH * checkpoint.epoch):
        iter(train)  # draws one shuffle; nothing is read from it
    if best is not None and checkpoint.best is not None:
        best.best, best.weights = checkpoint.best, list(checkpoint.best_weights)


def checkpoint_facts(
    spec: StudySpec, data: Dataset, hp: Hyperparameters, seed: int, model: keras.Model
) -> dict[str, Any]:
    """Everything that shapes a trial's training, for its checkpoints' fingerprint."""
    return {
        "hyperparameters": hp.as_dict(),
        "seed": seed,
        "space": {p.name: repr(p.domain) for p in spec.params},
        "dataset": spec.dataset.fingerprint(),
        "split_seed": spec.seed or 0,
        "data": [data.x_train.shape, data.x_val.shape, data.num_classes, data.input_scale],
        "restore_best_weights": spec.restore_best_weights,
        **model_facts(model),
    }


class EpochCheckpoint(keras.callbacks.Callback):
    """Takes up a configuration's last checkpoint (`resume`), then saves the trial's state
    every `spec.checkpoint_every` epochs, short of the last (the trial ends there).

    Runs after the reporter: an epoch that diverged or was pruned is not saved.
    """

    def __init__(
        self,
        store: TrialCheckpoints,
        spec: StudySpec,
        history: list[dict[str, float]],
        best: Best | None,
    ) -> None:
        super().__init__()
        self.store = store
        self.every = spec.checkpoint_every
        self.epochs = spec.epochs
        self.metric = spec.metric
        self.history = history
        self.best = best
        self.seconds_before = 0.0  # of the epochs a resumed trial did not train
        self.started = time.perf_counter()
        self.saving_seconds = 0.0  # what the saves cost, kept out of the training time

    def resume(self, trial: optuna.Trial, model: keras.Model, train: tf.data.Dataset) -> int:
        """Take up the newest good checkpoint, if any: its state back in `model` and
        `train`, its epochs in the history and reported to Optuna (the pruner sees the whole
        curve and may prune at once), the trial's user attributes saying so. Returns the
        epochs done."""
        checkpoint = self.store.latest()
        if checkpoint is None:
            return 0
        restore(model, checkpoint, train, self.best)
        self.history.extend(checkpoint.history)
        self.seconds_before = checkpoint.fit_seconds
        trial.set_user_attr(RESUMED_FROM_EPOCH_ATTR, checkpoint.epoch)
        trial.set_user_attr(RESUMED_SECONDS_ATTR, round(checkpoint.fit_seconds, 3))
        for epoch, logs in enumerate(checkpoint.history, start=1):
            trial.report(logs[self.metric], step=epoch)
            if trial.should_prune():
                del self.history[epoch:]  # the trial's curve ends where it is pruned
                raise optuna.TrialPruned(f"pruned at epoch {epoch} (resumed)")
        return checkpoint.epoch

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        done = epoch + 1
        if self.model.stop_training or done % self.every or done >= self.epochs:
            return
        began = time.perf_counter()
        trained = began - self.started - self.saving_seconds + self.seconds_before
        try:
            self.store.save(capture(self.model, done, self.history, trained, self.best))
        except OSError as exc:  # a full disk costs the retry its head start, not the trial
            print(f"warning: epoch {done}'s checkpoint was not saved: {exc}", file=sys.stderr)
        self.saving_seconds += time.perf_counter() - began
