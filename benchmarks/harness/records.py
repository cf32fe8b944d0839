"""The record a benchmark leaves: one JSON file under benchmarks/results/, named for the benchmark.

A record names the commit it measured, the date, the machine and the command, and holds the
benchmark's table (Markdown, what RESULTS.md shows) beside the raw numbers it was made from.
`python -m benchmarks.report` builds RESULTS.md from these files and nothing else, so a figure
on that page is always the one a record of the current code holds.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from benchmarks.harness import machine

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "benchmarks" / "results"


def checked_out(root: Path, paths: tuple[str, ...]) -> str | None:
    """The commit checked out at `root` (7 digits), with `+changes` when any of `paths` differs
    from it; None outside a git checkout."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True)
        return done.stdout.strip()

    try:
        head = git("rev-parse", "--short=7", "HEAD")
        changed = git("status", "--porcelain", "--", *paths)
    except (OSError, subprocess.CalledProcessError):
        return None
    return head + ("+changes" if changed else "")


def commit() -> str:
    """HEAD's short hash, with `+changes` when automl/ or benchmarks/ differ from it."""
    return checked_out(ROOT, ("automl", "benchmarks", ":!benchmarks/results")) or "unknown"


def command(name: str, argv: list[str] | None = None) -> str:
    """The command line that made the record, as a user types it from the repository's root."""
    shown = sys.argv[1:] if argv is None else argv
    return shlex.join(["python", "-m", f"benchmarks.{name}", *shown])


def save(
    name: str,
    table: str,
    data: Any,
    question: str,
    started: float,
    argv: list[str] | None = None,
    folder: Path = RESULTS,
) -> Path:
    """Write `name`'s record: what it asked, the table and raw numbers, and where it ran
    (`started`: the run's `time.perf_counter()` at its start)."""
    seconds = time.perf_counter() - started
    record = {
        "benchmark": name,
        "question": question,
        "commit": commit(),
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine.summary(),
        "command": command(name, argv),
        "minutes": round(seconds / 60, 1),
        "load_at_end": round(os.getloadavg()[0], 1),
        "table": table.strip(),
        "data": data,
    }
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    path.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    return path


class _Tee(io.StringIO):
    """Keeps what is printed and still shows it."""

    def __init__(self, shown: TextIO) -> None:
        super().__init__()
        self.shown = shown

    def write(self, text: str) -> int:
        self.shown.write(text)
        return super().write(text)


@contextlib.contextmanager
def teed() -> Iterator[io.StringIO]:
    """What the benchmark prints inside the block, kept for its record's table."""
    tee = _Tee(sys.stdout)
    with contextlib.redirect_stdout(tee):
        yield tee


def load(folder: Path = RESULTS) -> dict[str, dict[str, Any]]:
    """Every record in the folder, by benchmark name."""
    records = (json.loads(p.read_text(encoding="utf-8")) for p in sorted(folder.glob("*.json")))
    return {r["benchmark"]: r for r in records}
