"""Optuna storages from one string: a database URL, or the path of a journal file.

The embedded default is a journal file in the current folder: it held four and eight local
workers without a lock error, a lost or a duplicated trial, and faster than SQLite, which takes
the whole database's lock for every write (`python -m benchmarks.storage_contention`). Database
URLs get Optuna's heartbeat, so a trial whose worker died on another machine is failed and
retried with the same parameters.

Each study also has a lock (`StudyLock`): workers hold it while they count the budget and
start a trial, so that several workers never take the last slot together.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import optuna
import sqlalchemy
from optuna.storages import BaseStorage, RDBStorage
from optuna.storages.journal import JournalFileBackend, JournalStorage
from sqlalchemy.pool import NullPool

from automl.errors import StorageError, first_line
from automl.run.journal import check_journal
from automl.run.recovery import GRACE_SECONDS, HEARTBEAT_SECONDS, retry_stale
from automl.tracking.artifacts import ARTIFACTS_ENV, artifact_dir
from automl.uris import is_url, local_file, mask, redact, sqlite_path


def open_storage(
    storage: str,
    must_exist: bool = False,
    grace_seconds: int = GRACE_SECONDS,
    readonly: bool = False,
) -> BaseStorage:
    """Open (or create) the storage; `must_exist` refuses to create a new local one.

    A journal file is checked first (`automl.run.journal`): a torn tail is repaired unless
    `readonly` (the commands that only read never change the file).
    """
    if not is_url(storage):
        path = Path(storage)
        if path.parent and not path.parent.is_dir():
            what = "is not a folder" if path.parent.exists() else "does not exist"
            raise StorageError(f"storage {storage}: folder {path.parent} {what}")
        check_journal(path, repair=not readonly)
        if must_exist and not path.is_file():
            raise StorageError(f"storage {storage}: no such journal file")
        return JournalStorage(JournalFileBackend(str(path)))
    sqlite_file = local_file(storage)
    if must_exist and sqlite_file is not None and not sqlite_file.is_file():
        raise StorageError(f"storage {storage}: no such SQLite file")
    engine_kwargs = {"connect_args": {"timeout": 60}} if storage.startswith("sqlite") else {}
    try:
        with warnings.catch_warnings():
            # The heartbeat is "experimental" since Optuna 2.9; say so once, here, not per run.
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return RDBStorage(
                storage,
                engine_kwargs=engine_kwargs,
                heartbeat_interval=HEARTBEAT_SECONDS,
                grace_period=grace_seconds,
                heartbeat_stale_trial_callback=retry_stale,
            )
    except (optuna.exceptions.StorageInternalError, ImportError, ValueError) as exc:
        raise StorageError(
            f"storage {mask(storage)}: cannot open it: {redact(first_line(exc), storage)}"
        ) from None
    except Exception as exc:  # noqa: BLE001 - SQLAlchemy raises many kinds for a bad URL
        raise StorageError(
            f"storage {mask(storage)}: cannot open it: {redact(first_line(exc), storage)}"
        ) from None


def check_writable(storage: str, tracking_uri: str | None) -> None:
    """Before a run stores anything: it can write the storage's file (and beside it: Optuna's
    lock, SQLite's journal), the MLflow SQLite file and Optuna's artifact folder.

    Each place is tried by opening it for writing, not judged by its permission bits, which
    root ignores (a read-only mount or an immutable file stops root too).
    """
    journal = local_file(storage)
    if journal is not None:
        _writable_file(journal, f"storage {storage}")
    mlflow_file = sqlite_path(tracking_uri) if tracking_uri else None
    if mlflow_file is not None:
        _writable_file(mlflow_file, f"tracking URI {tracking_uri}")
    folder = artifact_dir(storage)
    _writable_folder(
        folder, f"artifact folder {folder} (${ARTIFACTS_ENV}, else beside the storage)"
    )


def _writable_file(path: Path, what: str) -> None:
    parent = path.parent
    if not parent.is_dir():
        state = "is not a folder" if parent.exists() else "does not exist"
        raise StorageError(f"{what}: folder {parent} {state}")
    if path.is_dir():
        raise StorageError(f"{what}: is a folder, not a file")
    if path.exists() and not path.is_file():
        raise StorageError(f"{what}: is not a regular file")
    if path.exists():
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_APPEND))
        except OSError as exc:
            raise StorageError(f"{what}: cannot write {path} ({exc.strerror})") from None
    _writable_folder(parent, what)


def _writable_folder(folder: Path, what: str) -> None:
    """The folder, or its nearest existing ancestor where it is still to be made, takes a
    new file."""
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise StorageError(f"{what}: {existing} is a file, not a folder")
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as exc:
        raise StorageError(
            f"{what}: cannot write in {existing.absolute()} ({exc.strerror})"
        ) from None


class StudyLock:
    """Held while a worker counts the study's budget and starts a trial; `release()` early.

    A local file (journal, SQLite) is locked with flock; a PostgreSQL study with a
    transaction-level advisory lock on a connection of its own. Both vanish with the process
    or its connection, so a worker killed while holding one blocks nobody. Other databases
    have no lock: there two workers may take the last slot together (the budget can then be
    exceeded by at most K - 1 trials for K workers).
    """

    def __init__(self, storage: str, study_name: str) -> None:
        self._storage = storage
        self._file = local_file(storage)
        digest = hashlib.sha256(f"automl study {study_name}".encode()).digest()
        self._key = int.from_bytes(digest[:8], "big", signed=True)
        self._engine: Any = None
        self._held: contextlib.ExitStack | None = None

    def __enter__(self) -> StudyLock:
        stack = contextlib.ExitStack()
        if self._file is not None:
            stack.enter_context(file_lock(self._file))
        elif self._storage.startswith("postgres"):
            if self._engine is None:
                self._engine = sqlalchemy.create_engine(self._storage, poolclass=NullPool)
            stack.enter_context(_advisory_lock(self._engine, self._key))
        self._held = stack
        return self

    def release(self) -> None:
        if self._held is not None:
            held, self._held = self._held, None
            held.close()

    def __exit__(self, *exc: object) -> None:
        self.release()


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock on a local file between processes (flock: gone with its holder)."""
    fd = os.open(path, os.O_RDONLY | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


@contextlib.contextmanager
def _advisory_lock(engine: Any, key: int) -> Iterator[None]:
    with engine.connect() as connection, connection.begin():
        # Released when this transaction ends (or its connection drops), whatever happens.
        connection.execute(sqlalchemy.text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
        yield
