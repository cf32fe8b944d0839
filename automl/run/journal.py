"""An Optuna journal file, checked before Optuna reads it or appends to it.

Optuna skips a torn last line (a write that a crash, a kill or a full disk cut short) when
it reads, but once anything is appended after it every later read fails. So before a command
appends, a torn tail is moved aside to `<journal>.torn-<time>`, named in a warning, and the
journal is cut back to its last whole record; the check and the cut hold Optuna's own lock,
so a line another worker is still writing is never taken for a torn one. Readers (`studies`,
`best`, `report`, `export`) never change the file: they read it as Optuna does, without its
torn tail, which the next writer repairs. `dashboard` is a writer (it deletes studies and
writes notes), so it repairs the journal before it serves it.

A record that is not one in the middle of the journal, a folder, or a file that is not a
journal at all (an image, a study file) is refused, with nothing changed.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from optuna.storages.journal import JournalFileSymlinkLock

from automl.errors import StorageError

TORN_SUFFIX = ".torn-"
# The first record of a journal creates a study: far below this. A file whose first line is
# longer is not a journal, and is not read whole to find that out.
FIRST_LINE_LIMIT = 1 << 20
# How every record of Optuna's journal starts (json.dumps of a dict whose first key is this).
RECORD_START = b'{"op_code":'


def check_journal(path: Path, repair: bool) -> None:
    """Refuse what is not a journal; with `repair`, move a torn tail aside (see the module)."""
    if path.is_dir():
        raise StorageError(f"storage {path}: is a folder, not a file")
    if not path.exists():
        return
    if not path.is_file():
        raise StorageError(f"storage {path}: is not a regular file")
    if good_end(path) == path.stat().st_size or not repair:
        return
    lock = JournalFileSymlinkLock(str(path))
    try:
        lock.acquire()
    except OSError as exc:
        raise StorageError(
            f"storage {path}: its last line is torn and cannot be repaired: cannot take the "
            f"journal's lock ({exc.strerror or exc}); nothing was changed"
        ) from None
    try:
        # Again, under the lock: what looked torn may have been a line still being written.
        end = good_end(path)
        if end < path.stat().st_size:
            _move_aside(path, end)
    finally:
        lock.release()


def good_end(path: Path) -> int:
    """The offset just after the journal's last whole record; raises for a file that is not
    a journal, or one with a bad record followed by good ones."""
    try:
        with path.open("rb") as f:
            first = f.readline(FIRST_LINE_LIMIT)
            if not first:
                return 0  # a new journal
            if not _is_record(first):
                if first.startswith(RECORD_START) and not first.endswith(b"\n"):
                    return 0  # only a torn first record
                raise StorageError(
                    f"storage {path}: is not an Optuna journal (its first line is not a "
                    "journal record); name a journal file, or a new one"
                )
            end, bad = len(first), 0
            for number, line in enumerate(f, start=2):
                if bad:
                    raise StorageError(
                        f"storage {path}: line {bad} is not an Optuna journal record, and "
                        "records follow it: the journal is damaged; nothing was changed"
                    )
                if _is_record(line):
                    end += len(line)
                else:
                    bad = number
            return end
    except OSError as exc:
        raise StorageError(f"storage {path}: cannot read it ({exc.strerror or exc})") from None


def _is_record(line: bytes) -> bool:
    if not line.endswith(b"\n"):
        return False
    try:
        record = json.loads(line)
    except (ValueError, RecursionError):  # JSON and UTF-8 errors are ValueErrors
        return False
    return isinstance(record, dict) and "op_code" in record


def _move_aside(path: Path, end: int) -> None:
    """Copy the bytes after `end` to a backup file beside the journal, then cut them off."""
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    backup = path.with_name(f"{path.name}{TORN_SUFFIX}{stamp}")
    try:
        with path.open("r+b") as journal:
            journal.seek(end)
            torn = journal.read()
            with backup.open("xb") as aside:
                aside.write(torn)
                aside.flush()
                os.fsync(aside.fileno())
            journal.truncate(end)
            journal.flush()
            os.fsync(journal.fileno())
    except OSError as exc:
        raise StorageError(
            f"storage {path}: its last line is torn and cannot be moved aside "
            f"({exc.strerror or exc}); nothing was changed"
        ) from None
    print(
        f"warning: storage {path}: its last line was torn ({len(torn)} bytes of an unfinished "
        f"write); moved them to {backup} and kept the records before it",
        file=sys.stderr,
    )
