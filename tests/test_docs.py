"""The command outputs the docs show are what the commands print.

Each fenced block in docs/*.md whose first line is `$ automl ...` and whose command needs only
the repository's own files (help pages, `validate` of a shipped study, `new` in an empty folder)
is run again here, and its output must equal the block's, line by line (trailing spaces aside).
Outputs of training runs (values, run ids, dates) are not checked here.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
CHECKED = re.compile(r"^automl (--help|\S+ --help|validate studies/\S+\.yaml|new .*)$")


def _fences(text: str) -> list[tuple[str, list[str]]]:
    """Every fenced block of a page: its info string and its lines."""
    fences, info, lines = [], None, []
    for line in text.split("\n"):
        if info is None and line.startswith("```"):
            info, lines = line[3:].strip(), []
        elif info is not None and line.strip() == "```":
            fences.append((info, lines))
            info = None
        elif info is not None:
            lines.append(line)
    return fences


def _blocks() -> list[tuple[str, str, list[str]]]:
    found = []
    for page in sorted(DOCS.glob("*.md")):
        for info, lines in _fences(page.read_text(encoding="utf-8")):
            if info or not lines or not lines[0].startswith("$ "):
                continue
            command = lines[0][2:]
            if any(line.startswith("$ ") for line in lines[1:]) or not CHECKED.match(command):
                continue  # one command per block, and only those that need no run
            found.append((page.name, command, lines[1:]))
    return found


BLOCKS = _blocks()


def test_the_docs_show_checked_outputs() -> None:
    assert len(BLOCKS) >= 4, BLOCKS


@pytest.mark.parametrize(
    ("page", "command", "shown"), BLOCKS, ids=[f"{p}: {c}" for p, c, _ in BLOCKS]
)
def test_a_shown_output_is_what_the_command_prints(
    page: str, command: str, shown: list[str], tmp_path: Path
) -> None:
    args = shlex.split(command)[1:]
    cwd = tmp_path if args[0] == "new" else ROOT
    env = {**os.environ, "COLUMNS": "80", "NO_COLOR": "1", "TERM": "dumb"}
    done = subprocess.run(
        [sys.executable, "-m", "automl", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    printed = [line.rstrip() for line in (done.stdout + done.stderr).rstrip("\n").split("\n")]
    if printed and printed[0] == "":
        printed = printed[1:]  # rich's help starts with an empty line
    assert printed == [line.rstrip() for line in shown], f"{page}: {command}"
