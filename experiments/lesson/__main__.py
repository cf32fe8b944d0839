"""The lesson's four claims, measured with automl itself.

Runs the study files in studies/lesson/ with `automl run` (one subprocess per study and seed,
`--set name=... --set seed=...`, `--workers 1`, a temporary Optuna journal and MLflow store),
reads the trials back from the storage, and writes docs/lesson-findings.md with a table per
claim (medians and spread over seeds), PNG plots in docs/lesson/, and the raw trials in
docs/lesson/results.json (so the page can be rendered again without training).

    PYTHONPATH=. python -m experiments.lesson               # digits, seeds 0 1 2
    PYTHONPATH=. python -m experiments.lesson --claims 3 --seeds 0 --set epochs=2 --out x
    PYTHONPATH=. python -m experiments.lesson --dataset fashion_mnist   # if its data is here
    PYTHONPATH=. python -m experiments.lesson --render      # the page from results.json

Claim 3 is judged by `automl.report.batch_norm.batch_norm_analysis`, the function behind
`automl report`'s batch-normalization view, so this page and the report say the same about the
same study.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from experiments.lesson.arms import ROOT
from experiments.lesson.environment import (
    cached_keras_sets,
    code_commit,
    dataset_problem,
    machine,
    steps_per_trial,
)
from experiments.lesson.merge import merged
from experiments.lesson.page import PROGRAM, render
from experiments.lesson.runs import ArmRun, run_arms
from experiments.lesson.stats import ClaimResult


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROGRAM, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--claims", type=int, nargs="+", default=[1, 2, 3, 4])
    p.add_argument("--dataset", default="digits", help="digits, fashion_mnist, cifar100, ...")
    p.add_argument(
        "--max-samples",
        type=int,
        default=None,
        help="images taken from a data set other than digits (default 10000)",
    )
    p.add_argument(
        "--set",
        dest="sets",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="passed to every `automl run` (e.g. epochs=2 for a quick check)",
    )
    p.add_argument("--out", type=Path, default=ROOT / "docs", help="folder of the page")
    p.add_argument(
        "--keep",
        type=Path,
        default=None,
        help="keep the Optuna journal and MLflow store in this folder",
    )
    p.add_argument("--note", default="", help="a line shown at the top of the page")
    p.add_argument(
        "--render",
        action="store_true",
        help="only rewrite the page and plots from the recorded results.json",
    )
    p.add_argument(
        "--merge",
        type=Path,
        default=None,
        metavar="RESULTS_JSON",
        help="take the runs another run recorded (same data set and overrides) into the page's "
        "results.json, in place of its own runs of the same claims and seeds, then render",
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    tag = "" if args.dataset == "digits" else f"-{args.dataset}"
    page = args.out / f"lesson-findings{tag}.md"
    plots = args.out / "lesson" / args.dataset if tag else args.out / "lesson"
    data_file = plots / "results.json"
    if args.merge is not None:
        return _merge_recorded(args.merge, data_file, page, plots)
    if args.render:
        return _render_recorded(data_file, page, plots)
    sets = _sets(args)
    commit = code_commit()  # before the runs: the code they start with
    with tempfile.TemporaryDirectory(prefix="lesson-") as tmp:
        folder = args.keep or Path(tmp)
        if (folder / "lesson.journal").exists():
            print(f"error: {folder} holds an earlier run's lesson.journal; --keep an empty folder")
            return 2
        folder.mkdir(parents=True, exist_ok=True)
        problem = dataset_problem(args.dataset, sets, folder)
        if problem is not None:
            print(f"skipped {args.dataset}: automl cannot load it here: {problem}")
            return 0
        started = time.perf_counter()
        runs = run_arms(args.seeds, args.claims, folder, sets, tag)
        duration = time.perf_counter() - started
    shown = " ".join([PROGRAM, *(argv if argv is not None else sys.argv[1:])])
    measured = {"commit": commit, "duration_s": duration}
    results = _record(args, sets, f"PYTHONPATH=. {shown}", measured, runs)
    plots.mkdir(parents=True, exist_ok=True)
    data_file.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    _report(render(results, page, plots), page)
    print(f"{duration / 60:.1f} minutes")
    return 0


def _sets(args: argparse.Namespace) -> list[str]:
    """The overrides every `automl run` gets: the data set's, then the user's."""
    if args.dataset == "digits":
        return list(args.sets)
    return [
        f"dataset={args.dataset}",
        f"dataset.max_samples={args.max_samples or 10000}",
        *args.sets,
    ]


def _render_recorded(data_file: Path, page: Path, plots: Path) -> int:
    if not data_file.is_file():
        print(f"error: no {data_file} to render; run without --render first", file=sys.stderr)
        return 2
    results = json.loads(data_file.read_text(encoding="utf-8"))
    _report(render(results, page, plots), page)
    return 0


def _merge_recorded(other: Path, data_file: Path, page: Path, plots: Path) -> int:
    """`other`'s runs joined into the page's record (merge.merged), then the page rendered."""
    for path in (other, data_file):
        if not path.is_file():
            print(f"error: no {path} to merge", file=sys.stderr)
            return 2
    old, new = (json.loads(p.read_text(encoding="utf-8")) for p in (data_file, other))
    results = merged(old, new)
    if isinstance(results, str):
        print(f"error: --merge: {other} differs from {data_file} in {results}")
        return 2
    data_file.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    _report(render(results, page, plots), page)
    return 0


def _record(
    args: argparse.Namespace,
    sets: list[str],
    command: str,
    measured: dict[str, Any],
    runs: list[ArmRun],
) -> dict[str, Any]:
    """results.json: the settings of the run, what it measured of itself, and every trial."""
    return {
        "settings": {
            "command": command,
            "commit": measured["commit"],
            "dataset": args.dataset,
            "seeds": args.seeds,
            "claims": args.claims,
            "sets": sets,
            "note": args.note,
            "date": dt.date.today().isoformat(),
            "duration_s": measured["duration_s"],
            "machine": machine(),
            "other_datasets": cached_keras_sets() if args.dataset == "digits" else {},
            "steps_per_trial": steps_per_trial(sets),
        },
        "runs": [asdict(r) for r in runs],
    }


def _report(claims: list[ClaimResult], page: Path) -> None:
    print(f"wrote {page}")
    for c in claims:
        print(f"claim {c.claim}: {c.verdict}")


if __name__ == "__main__":
    raise SystemExit(main())
