"""A trial's checkpoint files: read back whole, a torn or damaged one skipped for the one before
it (a real SIGKILL mid-write among them), another fingerprint's never read."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from automl.train.checkpoint import KEEP, Checkpoint, TrialCheckpoints, discard, fingerprint
from tests.processes import environment


def checkpoint(epoch: int, size: int = 10) -> Checkpoint:
    rng = np.random.default_rng(epoch)
    return Checkpoint(
        epoch=epoch,
        model=[rng.normal(size=(size, 3)).astype(np.float32), np.arange(4, dtype=np.int64)],
        optimizer=[np.array(epoch * 23, dtype=np.int64), rng.normal(size=(size, 3))],
        history=[{"loss": 1.0 / e, "val_accuracy": 0.1 * e} for e in range(1, epoch + 1)],
        fit_seconds=0.5 * epoch,
        best=(0.1 * epoch, epoch),
        best_weights=[rng.normal(size=(size,))],
    )


def same(a: Checkpoint, b: Checkpoint) -> bool:
    arrays = zip(
        [*a.model, *a.optimizer, *a.best_weights],
        [*b.model, *b.optimizer, *b.best_weights],
        strict=True,
    )
    scalars = (a.epoch, a.history, a.fit_seconds, a.best) == (
        b.epoch,
        b.history,
        b.fit_seconds,
        b.best,
    )
    return scalars and all(x.dtype == y.dtype and np.array_equal(x, y) for x, y in arrays)


def test_a_checkpoint_reads_back_as_written_and_only_the_newest_two_stay(tmp_path: Path) -> None:
    store = TrialCheckpoints(tmp_path / "trial-0", fingerprint({"width": 8}))
    for epoch in (1, 2, 3):
        store.save(checkpoint(epoch))
    assert store.epochs() == [3, 2] and KEEP == 2
    latest = store.latest()
    assert latest is not None and same(latest, checkpoint(3))
    assert not [p for p in store.folder.iterdir() if p.name.endswith(".tmp")]
    discard(store.folder)
    assert not store.folder.exists() and store.latest() is None


def test_a_truncated_or_damaged_checkpoint_is_skipped_for_the_one_before(tmp_path: Path) -> None:
    store = TrialCheckpoints(tmp_path / "trial-0", fingerprint({"width": 8}))
    store.save(checkpoint(1))
    newest = store.save(checkpoint(2))
    whole = newest.read_bytes()
    for torn in (whole[: len(whole) // 2], whole[:10], b"", whole[:-1] + bytes([whole[-1] ^ 1])):
        newest.write_bytes(torn)
        found = store.latest()
        assert found is not None and same(found, checkpoint(1))


def test_another_fingerprints_checkpoint_is_never_read(tmp_path: Path) -> None:
    folder = tmp_path / "trial-0"
    TrialCheckpoints(folder, fingerprint({"width": 8})).save(checkpoint(3))
    other = TrialCheckpoints(folder, fingerprint({"width": 16}))
    assert other.latest() is None
    # Even under this fingerprint's name, a file says whose it is.
    mine = TrialCheckpoints(folder, fingerprint({"width": 8}))
    mine.path(3).rename(other.path(3))
    assert other.latest() is None


WRITER = """
import sys
import numpy as np
from pathlib import Path
from automl.train.checkpoint import Checkpoint, TrialCheckpoints
store = TrialCheckpoints(Path(sys.argv[1]), sys.argv[2])
weights = [np.full((1_000_000,), e, dtype=np.float32) for e in range(8)]  # 32 MB a file
for epoch in range(1, 10_000):
    store.save(Checkpoint(epoch, weights, [np.array(epoch)], [], float(epoch)))
"""


def _kill_mid_write(folder: Path, key: str) -> bool:
    """Start a writer and SIGKILL it while it writes a checkpoint; True if a write was cut."""
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(folder), key], env=environment(folder.parent)
    )
    store = TrialCheckpoints(folder, key)
    end = time.time() + 60
    while time.time() < end and len(store.epochs()) < 2:
        time.sleep(0.01)
    while time.time() < end and not [p for p in folder.iterdir() if p.name.endswith(".tmp")]:
        time.sleep(0.001)
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    return any(p.name.endswith(".tmp") for p in folder.iterdir())


def test_a_writer_killed_mid_write_leaves_the_last_whole_checkpoint(tmp_path: Path) -> None:
    key = fingerprint({"width": 8})
    for attempt in range(5):
        folder = tmp_path / f"trial-{attempt}"
        folder.mkdir()
        if _kill_mid_write(folder, key):
            break
    else:
        raise AssertionError("no SIGKILL landed inside a checkpoint's write in 5 tries")
    store = TrialCheckpoints(folder, key)
    latest = store.latest()
    assert latest is not None and latest.epoch == store.epochs()[0]
    assert latest.fit_seconds == float(latest.epoch)
    assert all(np.array_equal(w, np.full((1_000_000,), e)) for e, w in enumerate(latest.model))
