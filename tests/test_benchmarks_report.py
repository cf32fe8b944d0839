"""The results page is what the records say: made from them, never edited by hand."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks import report
from benchmarks.harness import records


def test_results_page_and_suite_table_are_made_from_the_records_as_they_stand() -> None:
    assert report.main(["--check"]) == 0


def _record(folder: Path, name: str, question: str) -> None:
    record = {
        "benchmark": name,
        "question": question,
        "commit": "abc1234",
        "date": "2026-12-02 01:00 UTC",
        "machine": "2 cores",
        "command": f"python -m benchmarks.{name}",
        "minutes": 1.5,
        "load_at_end": 1.0,
        "table": f"| {name} | 1 |",
        "data": [],
    }
    (folder / f"{name}.json").write_text(json.dumps(record), encoding="utf-8")


def test_each_record_gets_a_section_in_a_fixed_order_with_its_commit_and_command(
    tmp_path: Path,
) -> None:
    _record(tmp_path, "zeta", "Zeta?")
    _record(tmp_path, "overhead", "What does it cost?")
    _record(tmp_path, "compare", "Which is faster?")
    found = records.load(tmp_path)
    text = report.page(found)
    sections = [line for line in text.splitlines() if line.startswith("## ")]
    assert sections == ["## Which is faster?", "## What does it cost?", "## Zeta?"]
    assert "`python -m benchmarks.compare` · commit abc1234" in text
    assert "Same scoring rule" in text  # how compare is made fair, beside its table
    table = report.suite(found)
    assert "| Which is faster? | `python -m benchmarks.compare` | 1.5 |" in table
    assert "[compare](RESULTS.md#which-is-faster)" in table
