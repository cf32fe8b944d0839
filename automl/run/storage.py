"""Optuna storages from one string: a database URL, or the path of a journal file.

The embedded default is a journal file in the current folder: it held four local workers
without a lock error or a lost trial, where SQLite did not (benchmarks/STORAGE.md). Database
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
from automl.run.recovery import GRACE_SECONDS, HEARTBEAT_SECONDS, retry_stale
from automl.uris import is_url, local_file


def open_storage(
    storage: str, must_exist: bool = False, grace_seconds: int = GRACE_SECONDS
) -> BaseStorage:
    """Open (or create) the storage; `must_exist` refuses to create a new local one."""
    if not is_url(storage):
        path = Path(storage)
        if must_exist and not path.is_file():
            raise StorageError(f"storage {storage}: no such journal file")
        if path.parent and not path.parent.exists():
            raise StorageError(f"storage {storage}: folder {path.parent} does not exist")
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
        raise StorageError(f"storage {storage}: cannot open it: {first_line(exc)}") from None
    except Exception as exc:  # noqa: BLE001 - SQLAlchemy raises many kinds for a bad URL
        raise StorageError(f"storage {storage}: cannot open it: {first_line(exc)}") from None


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
