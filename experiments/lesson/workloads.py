"""The digits page's section on the larger workloads: each other data set's record (its
results.json beside the digits plots, made with `--dataset NAME`) judged again, claim by claim,
beside the digits verdict."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from experiments.lesson.parts import claims_and_seeds
from experiments.lesson.runs import from_record
from experiments.lesson.stats import ClaimResult
from experiments.lesson.trials import best_value

# A record's claims, judged (plots go to the folder given): page.judge.
Judge = Callable[[dict[str, Any], Path], list[ClaimResult]]


def other_records(plots: Path) -> dict[str, dict[str, Any]]:
    """The records of the other data sets, by name: plots/<name>/results.json."""
    found = {}
    for path in sorted(plots.glob("*/results.json")):
        found[path.parent.name] = json.loads(path.read_text(encoding="utf-8"))
    return found


def section(
    digits_record: dict[str, Any], digits: Sequence[ClaimResult], plots: Path, judge: Judge
) -> list[str]:
    """A table of each claim's verdict on digits and on every other recorded data set, with
    what each run was; nothing when no other data set was measured."""
    others = other_records(plots)
    if not others:
        return []
    judged: dict[str, dict[int, str]] = {}
    with tempfile.TemporaryDirectory(prefix="lesson-plots-") as scratch:  # their pages own them
        for name, record in others.items():
            judged[name] = {c.claim: c.verdict for c in judge(record, Path(scratch))}
    names = list(others)
    lines = [
        "## On a larger workload",
        "",
        f"On digits the studies' best values span {_best_range(digits_record)}: a difference "
        "between two arms is a few images. The same claims on the data sets below, each with "
        "a page of its own:",
        "",
        *[f"- [{name}](lesson-findings-{name}.md): {_what(others[name])}" for name in names],
        "",
        "| claim | digits | " + " | ".join(names) + " |",
        "| --- | --- | " + " | ".join("---" for _ in names) + " |",
    ]
    for c in digits:
        cells = [judged[n].get(c.claim, "not measured") for n in names]
        lines.append(f"| {c.claim}. {c.title} | {c.verdict} | " + " | ".join(cells) + " |")
    return lines


def _best_range(record: dict[str, Any]) -> str:
    """The lowest and highest best value of the record's studies (one per arm and seed)."""
    bests = [best_value(from_record(t) for t in r["trials"]) for r in record["runs"]]
    found = [b for b in bests if b is not None]
    return f"{min(found):.3f}–{max(found):.3f}" if found else "nothing"


def _what(record: dict[str, Any]) -> str:
    """The settings a record ran with, in a line."""
    s = record["settings"]
    sets = [x for x in s["sets"] if not x.startswith("dataset=")]
    return (
        claims_and_seeds(s)
        + (f"; {', '.join(sets)}" if sets else "")
        + f"; its studies' best values span {_best_range(record)}."
    )
