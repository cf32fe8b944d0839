"""The page, docs/lesson-findings.md, rendered from a record of the runs (results.json): its
header, a table of verdicts, a section per claim with its figures, and how to reproduce it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from experiments.lesson.claim1 import claim1
from experiments.lesson.claim2 import claim2
from experiments.lesson.claim3 import claim3
from experiments.lesson.claim4 import claim4
from experiments.lesson.parts import listed, parts_of, seeds_per_claim
from experiments.lesson.runs import ArmRun
from experiments.lesson.stats import TIE, ClaimResult
from experiments.lesson.workloads import section

PROGRAM = "python -m experiments.lesson"


def judge(results: dict[str, Any], plots: Path) -> list[ClaimResult]:
    """The claims a record's runs can judge, their figures written to `plots`."""
    runs = [ArmRun(**r) for r in results["runs"]]
    return [
        c
        for c in (
            claim1(runs, plots),
            claim2(runs, plots, results["settings"].get("steps_per_trial")),
            claim3(runs, plots),
            claim4(runs, plots),
        )
        if c is not None
    ]


def render(results: dict[str, Any], page: Path, plots: Path) -> list[ClaimResult]:
    """Write the page and its figures from a record; the claims it could judge. The digits
    page also judges the other data sets' records (workloads.section)."""
    claims = judge(results, plots)
    rel = os.path.relpath(plots, page.parent)
    lines = [*_header(results["settings"]), "", "| claim | verdict |", "| --- | --- |"]
    lines += [f"| {c.claim}. {c.title} | {c.verdict} |" for c in claims]
    for c in claims:
        lines += ["", f"## {c.claim}. {c.title}", "", *c.markdown, ""]
        lines += [f"![claim {c.claim}]({rel}/{p})" for p in c.plots]
    if results["settings"]["dataset"] == "digits":
        lines += ["", *section(results, claims, plots, judge)]
    lines += ["", "## Reproduce", "", *_reproduce(results["settings"])]
    page.parent.mkdir(parents=True, exist_ok=True)
    page.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return claims


def _made(parts: list[dict[str, Any]]) -> list[str]:
    """The header's lines on who made the record."""

    def where(p: dict[str, Any]) -> str:
        commit = f"commit {p['commit']}" if p.get("commit") else "commit not recorded"
        return f"{commit}; {p['date']}; {p['machine']}"

    if len(parts) == 1:
        return [f"- Made by: `{parts[0]['command']}`", f"- Code, date, machine: {where(parts[0])}."]
    lines = [f"- Made in {len(parts)} runs:"]
    for p in parts:
        claims = listed("claim", p["claims"])
        seeds = f", {listed('seed', p['seeds'])}" if p.get("seeds") else ""
        lines.append(
            f"    - {claims}{seeds}: `{p['command']}` ({where(p)}; "
            f"{p['duration_s'] / 60:.1f} minutes)"
        )
    return lines


def _seeds_each(s: dict[str, Any]) -> str:
    """How many seeds each study ran: one number, or per claim for merged runs that differ."""
    per_claim = seeds_per_claim(s)
    if len({len(seeds) for seeds in per_claim.values()}) <= 1:
        return f"{len(s['seeds'])} seeds each"
    return (
        "seeds as listed below ("
        + ", ".join(f"claim {c}: {len(seeds)}" for c, seeds in per_claim.items())
        + ")"
    )


def _header(s: dict[str, Any]) -> list[str]:
    lines = [
        f"# The lesson's claims, measured ({s['dataset']})",
        "",
        "The course chapter behind automl makes four claims about tuning. This page checks each "
        "with automl itself: the study files in `studies/lesson/` run with `automl run`, "
        f"{_seeds_each(s)} (`--set seed=N`: the seed moves the sampler, the "
        "validation split and every model's initialization), and the trials are read back from "
        "the Optuna storage. Every number below comes from that run; the verdicts are computed "
        "from the numbers by `experiments/lesson/`, not written by hand.",
        "",
        *_made(parts_of(s)),
        f"- Data: {s['dataset']}; seeds {', '.join(map(str, s['seeds']))}"
        + (f"; overrides {', '.join(s['sets'])}" if s["sets"] else "")
        + f"; {s['duration_s'] / 60:.1f} minutes in all"
        + ".",
        f"- Two best values closer than {TIE} count as equal (about 2 of digits' 360 validation "
        "images; a 200th of any set's). Medians over seeds, [min–max] the spread.",
    ]
    if s.get("note"):
        lines.append(f"- **{s['note']}**")
    return lines


def _reproduce(s: dict[str, Any]) -> list[str]:
    digits = s["dataset"] == "digits"
    flag = "" if digits else f" --dataset {s['dataset']}"
    record = "lesson/results.json" if digits else f"lesson/{s['dataset']}/results.json"
    out = [
        "Each study runs by itself; for example one seed of claim 3, then the report whose "
        "batch-normalization view says the same as this page:",
        "",
        "```bash",
        "automl run studies/lesson/claim3_bn_lr_grid.yaml --set seed=1 --set name=bn-s1 "
        "--storage lesson.journal",
        "automl report bn-s1 --storage lesson.journal --out reports/",
        "```",
        "",
        f"The whole page: `PYTHONPATH=. {PROGRAM}{flag}` (add `--keep DIR` to "
        "keep the Optuna storage and MLflow store for `automl report`, `automl best`). "
        "`--render` rewrites the page and plots from the trials recorded in "
        f"`docs/{record}`; `--merge FILE` adds another run's claims or seeds to it.",
    ]
    missing = [n for n, present in s.get("other_datasets", {}).items() if not present]
    if missing:
        out += [
            "",
            f"Not measured here: {', '.join(missing)} (not in the Keras cache of the machine "
            f"that made this page). Where the data is present: `PYTHONPATH=. {PROGRAM} "
            "--dataset fashion_mnist` writes "
            "`docs/lesson-findings-fashion_mnist.md` (the first `--max-samples` images, "
            "10,000 by default).",
        ]
    return out
