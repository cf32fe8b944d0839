"""A trial's per-epoch checkpoint: everything the next epoch needs, as one file that is either
whole or never read.

A checkpoint holds the model's variables (weights, batch-normalization statistics and the
random layers' seed states), the optimizer's (Adam's step and moments, which the fused update
works on in place), the epoch, the per-epoch logs so far, the seconds they took to train, and,
with `restore_best_weights`, the best epoch and its weights.

Where: `<artifact folder>/checkpoints/<study>/trial-<n>/`, n the number of the first trial of
a configuration (a retry keeps its failure's number), inside Optuna's artifact folder beside
the storage (`$AUTOML_ARTIFACTS` moves it). Every worker that shares that folder (one machine,
or machines that mount `$AUTOML_ARTIFACTS` from a shared file system) resumes the others'
trials; a worker that cannot see it trains the retry from its first epoch. A plain folder keeps
this simple and fast: the MLflow server would copy each checkpoint over HTTP every epoch.

A file is written to a temporary name and moved into place (`os.replace`), and starts with a
SHA-256 of its contents: a write cut short leaves only a temporary file, never read, and a
truncated or damaged file fails its checksum and the one before it is read instead. Each file
names a fingerprint of what trained it (the hyperparameters, the seed, the data, the space,
the model's architecture): a checkpoint of another space, data set or model is never read.

This module is numpy and the standard library only: the worker's Keras side is
`automl.train.resume`.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

CHECKPOINTS_DIR = "checkpoints"  # inside the artifact folder
MAGIC = b"automl-checkpoint 1\n"
DIGEST_BYTES = 64  # a SHA-256 in hex
KEEP = 2  # the newest and the one before it, in case the newest is damaged
SUFFIX = ".ckpt"


@dataclass
class Checkpoint:
    """A trial's state at the end of `epoch` (1-based)."""

    epoch: int
    model: list[np.ndarray]
    optimizer: list[np.ndarray]
    history: list[dict[str, float]]
    fit_seconds: float  # training time of these `epoch` epochs, over every attempt
    best: tuple[float, int] | None = None  # (metric, epoch) of the best epoch so far
    best_weights: list[np.ndarray] = field(default_factory=list)


def fingerprint(facts: Mapping[str, Any]) -> str:
    """A hash of what trained a model: equal facts, equal hash."""
    text = json.dumps(facts, sort_keys=True, default=repr)
    return hashlib.sha256(text.encode()).hexdigest()


def trial_folder(root: Path, first_trial: int) -> Path:
    """The folder of a configuration's checkpoints: its first trial's and every retry's."""
    return root / f"trial-{first_trial}"


class TrialCheckpoints:
    """The checkpoints of one configuration in `folder` whose fingerprint is `key`."""

    def __init__(self, folder: Path, key: str) -> None:
        self.folder = folder
        self.key = key

    def path(self, epoch: int) -> Path:
        return self.folder / f"{self.key[:16]}-epoch-{epoch:04d}{SUFFIX}"

    def save(self, checkpoint: Checkpoint) -> Path:
        """Write atomically, then drop all but the newest `KEEP` of this fingerprint."""
        payload = _encode(checkpoint, self.key)
        digest = hashlib.sha256(payload).hexdigest().encode()
        self.folder.mkdir(parents=True, exist_ok=True)
        final = self.path(checkpoint.epoch)
        temporary = self.folder / f".{final.name}.{os.getpid()}.tmp"
        # No fsync: a dead process's writes are the kernel's to finish, and after a machine's
        # crash a file the disk did not get whole fails its checksum and the one before it (or
        # epoch 1) is taken. An fsync would cost more than the rest of a save on digits
        # (benchmarks/checkpoint.py measures both).
        temporary.write_bytes(MAGIC + digest + payload)
        os.replace(temporary, final)
        for old in self.epochs()[KEEP:]:
            self.path(old).unlink(missing_ok=True)
        return final

    def epochs(self) -> list[int]:
        """The epochs with a checkpoint of this fingerprint, newest first."""
        prefix = f"{self.key[:16]}-epoch-"
        if not self.folder.is_dir():
            return []
        found = [
            p.name[len(prefix) : -len(SUFFIX)]
            for p in self.folder.iterdir()
            if p.name.startswith(prefix) and p.name.endswith(SUFFIX)
        ]
        return sorted((int(e) for e in found if e.isdigit()), reverse=True)

    def latest(self) -> Checkpoint | None:
        """The newest checkpoint that reads whole and has this fingerprint; None if none does."""
        for epoch in self.epochs():
            checkpoint = self.read(epoch)
            if checkpoint is not None:
                return checkpoint
        return None

    def read(self, epoch: int) -> Checkpoint | None:
        """One checkpoint, or None when it is torn, damaged or of another fingerprint."""
        try:
            blob = self.path(epoch).read_bytes()
        except OSError:
            return None
        head = len(MAGIC) + DIGEST_BYTES
        if not blob.startswith(MAGIC) or len(blob) < head:
            return None
        payload = blob[head:]
        if hashlib.sha256(payload).hexdigest().encode() != blob[len(MAGIC) : head]:
            return None
        checkpoint, key = _decode(payload)
        return checkpoint if key == self.key and checkpoint.epoch == epoch else None


def discard(folder: Path) -> None:
    """Delete a configuration's checkpoints (every fingerprint's): its trial has ended."""
    shutil.rmtree(folder, ignore_errors=True)


def _encode(checkpoint: Checkpoint, key: str) -> bytes:
    meta = {
        "key": key,
        "epoch": checkpoint.epoch,
        "history": checkpoint.history,
        "fit_seconds": checkpoint.fit_seconds,
        "best": checkpoint.best,
        "counts": [len(checkpoint.model), len(checkpoint.optimizer), len(checkpoint.best_weights)],
    }
    arrays = {"meta": np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)}
    for group, values in zip("mob", _groups(checkpoint), strict=True):
        arrays.update({f"{group}{i}": np.asarray(v) for i, v in enumerate(values)})
    buffer = io.BytesIO()
    np.savez(buffer, allow_pickle=False, **arrays)
    return buffer.getvalue()


def _groups(checkpoint: Checkpoint) -> tuple[list[np.ndarray], ...]:
    return checkpoint.model, checkpoint.optimizer, checkpoint.best_weights


def _decode(payload: bytes) -> tuple[Checkpoint, str]:
    with np.load(io.BytesIO(payload), allow_pickle=False) as arrays:
        meta = json.loads(arrays["meta"].tobytes())
        model, optimizer, best_weights = (
            [arrays[f"{group}{i}"] for i in range(count)]
            for group, count in zip("mob", meta["counts"], strict=True)
        )
    best = meta["best"]
    checkpoint = Checkpoint(
        epoch=int(meta["epoch"]),
        model=model,
        optimizer=optimizer,
        history=meta["history"],
        fit_seconds=float(meta["fit_seconds"]),
        best=(float(best[0]), int(best[1])) if best else None,
        best_weights=best_weights,
    )
    return checkpoint, str(meta["key"])
