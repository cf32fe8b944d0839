"""Running `compare`: each arm and seed in a fresh process, then one record of them all."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from automl.errors import DataError
from automl.spec.schema import GENERATED, DatasetSpec
from benchmarks.compare.arms import ARMS, CORE, RUNNERS
from benchmarks.compare.tables import table
from benchmarks.harness import records, workload

QUESTION = (
    "How long does each tool take to tune the same CNN space on the same data, and how good is "
    "the model it picks?"
)


def run_one(arm: str, seed: int, trials: int, epochs: int, out: Path, dataset: DatasetSpec) -> None:
    """Run one arm in this (fresh) process and write its record."""
    record = RUNNERS[arm](seed, workload.load(seed, dataset), trials, epochs)
    record.update(
        arm=arm,
        seed=seed,
        dataset=dataset.name,
        max_samples=dataset.max_samples,
        max_trials=trials,
        max_epochs=epochs,
        # The load average over the last minute: how busy the machine was as this arm finished.
        load=os.getloadavg()[0],
    )
    record["commit"] = records.commit()
    out.write_text(json.dumps(record, indent=1), encoding="utf-8")


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=QUESTION)
    parser.add_argument("--arms", nargs="+", choices=ARMS, default=list(CORE))
    parser.add_argument(
        "--dataset",
        choices=workload.DATASETS,
        default="digits",
        help=f"digits (default: {workload.KEEP} images to search on, the other "
        f"{workload.DIGITS_TOTAL - workload.KEEP} to test), or a Keras data set from the Keras "
        "cache ($KERAS_HOME/datasets, else ~/.keras/datasets), tested on its own test split; "
        "nothing is downloaded",
    )
    parser.add_argument(
        "--max-samples",
        type=int,
        help="a Keras data set: search on a stratified subset of this many training images "
        "(default: all of them)",
    )
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--trials", type=int, default=workload.TRIALS)
    parser.add_argument("--epochs", type=int, default=workload.EPOCHS)
    parser.add_argument(
        "--results", type=Path, default=records.RESULTS, help="folder of the record compare.json"
    )
    parser.add_argument("--table", action="store_true", help="print the record's tables and stop")
    parser.add_argument("--one", choices=ARMS, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        args.dataset_spec = workload.dataset_spec(args.dataset, args.max_samples)
    except ValueError as exc:
        parser.error(f"--max-samples: {exc}")
    return args


def run_arm(args: argparse.Namespace, arm: str, seed: int, work: Path) -> dict[str, Any]:
    """One arm and seed in a fresh interpreter (it pays its own imports); its record."""
    from benchmarks.harness.automl_cli import env_with_repo

    out = work / f"{arm}-seed{seed}.json"  # a run's own folder: one data set
    chosen = ["--dataset", args.dataset, "--trials", str(args.trials), "--epochs", str(args.epochs)]
    if args.max_samples is not None:
        chosen += ["--max-samples", str(args.max_samples)]
    command = [sys.executable, "-m", "benchmarks.compare", "--one", arm, "--seeds", str(seed)]
    subprocess.run([*command, *chosen, "--out", str(out)], check=True, env=env_with_repo())
    return dict(json.loads(out.read_text(encoding="utf-8")))


def merged(folder: Path, new: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The record's earlier arms, less those run again now, and the new ones."""
    old = records.load(folder).get("compare", {}).get("data", [])
    key = ("arm", "seed", "dataset", "max_samples")
    ran = {tuple(r[k] for k in key) for r in new}
    return [r for r in old if tuple(r[k] for k in key) not in ran] + new


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    if args.table:
        print(table(records.load(args.results)["compare"]["data"]))
        return
    try:
        described = workload.check(args.dataset_spec)
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    if args.one:
        run_one(args.one, args.seeds[0], args.trials, args.epochs, args.out, args.dataset_spec)
        return
    print(f"data: {described}", flush=True)
    if args.dataset_spec.name in GENERATED:
        # Generated into the cache here, off every arm's clock, so that no arm pays for it.
        workload.load(args.seeds[0], args.dataset_spec)
    started, new = time.perf_counter(), []
    with tempfile.TemporaryDirectory(prefix="bench-compare-") as work:
        for seed in args.seeds:
            for arm in args.arms:
                t0 = time.perf_counter()
                new.append(run_arm(args, arm, seed, Path(work)))
                print(f"{arm} seed {seed}: {time.perf_counter() - t0:.0f} s", flush=True)
    data = merged(args.results, new)
    shown = table(data)
    records.save("compare", shown, data, QUESTION, started, argv, folder=args.results)
    print(shown)
