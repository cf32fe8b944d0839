"""Optuna storages from one string: a database URL, or the path of a journal file.

The embedded default is a journal file in the current folder (see README, "Storage": it
holds four local workers without lock errors, where SQLite does not). Database URLs get
Optuna's heartbeat, so a trial of a worker that died on another machine is failed and
retried with the same parameters.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from automl.errors import StorageError

if TYPE_CHECKING:
    from optuna.storages import BaseStorage

DEFAULT_STORAGE = "automl.journal"
HEARTBEAT_SECONDS = 10
GRACE_SECONDS = 30
MAX_RETRY = 3


def default_storage() -> str:
    return os.environ.get("AUTOML_STORAGE") or DEFAULT_STORAGE


def is_url(storage: str) -> bool:
    return "://" in storage


def open_storage(storage: str, must_exist: bool = False) -> BaseStorage:
    """Open (or create) the storage; `must_exist` refuses to create a new local one."""
    import optuna
    from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback

    if not is_url(storage):
        path = Path(storage)
        if must_exist and not path.is_file():
            raise StorageError(f"storage {storage}: no such journal file")
        if path.parent and not path.parent.exists():
            raise StorageError(f"storage {storage}: folder {path.parent} does not exist")
        from optuna.storages.journal import JournalFileBackend, JournalStorage

        return JournalStorage(JournalFileBackend(str(path)))
    sqlite_file = Path(storage.removeprefix("sqlite:///"))
    if must_exist and storage.startswith("sqlite:///") and not sqlite_file.is_file():
        raise StorageError(f"storage {storage}: no such SQLite file")
    engine_kwargs = {"connect_args": {"timeout": 60}} if storage.startswith("sqlite") else {}
    try:
        return RDBStorage(
            storage,
            engine_kwargs=engine_kwargs,
            heartbeat_interval=HEARTBEAT_SECONDS,
            grace_period=GRACE_SECONDS,
            heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(
                max_retry=MAX_RETRY, inherit_intermediate_values=False
            ),
        )
    except (optuna.exceptions.StorageInternalError, ImportError, ValueError) as exc:
        raise StorageError(f"storage {storage}: cannot open it: {_first_line(exc)}") from None
    except Exception as exc:  # noqa: BLE001 - SQLAlchemy raises many kinds for a bad URL
        raise StorageError(f"storage {storage}: cannot open it: {_first_line(exc)}") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
