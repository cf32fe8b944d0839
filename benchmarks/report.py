"""RESULTS.md from the records: `python -m benchmarks.report` (`--check` fails if it is stale).

The page holds nothing but what the records under benchmarks/results/ say, each section headed
by its record's commit, date, machine and command, in the order of SECTIONS (then any other
record). How each comparison is made fair is said once here, beside the tables it explains.
The same command writes the suite's table in benchmarks/README.md (question, command, minutes
on the recorded machine, section), between its two SUITE markers.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from benchmarks.harness import records

PAGE = records.ROOT / "benchmarks" / "RESULTS.md"
README = records.ROOT / "benchmarks" / "README.md"
DOCS = records.ROOT / "docs" / "benchmark-results.md"  # the same page on the docs site
SUITE = ("<!-- suite: made by python -m benchmarks.report -->", "<!-- end of suite -->")

FAIR = {
    "compare": """\
How the arms are made comparable:

- **Same work**: every arm searches the same space (learning rate, β1, L2, depth, width, batch
  norm) on the same split of the same data for a seed, with the same budget of trials and epochs
  (the record's command says it: 30 trials of at most 12 epochs unless it says otherwise), and
  builds its networks with automl's model builder, so the networks are identical.
- **Same scoring rule**: every arm scores a trial by its best epoch and tests that epoch's
  model: automl by `restore_best_weights` (its default), KerasTuner by its own rule, the Optuna
  script by `EarlyStopping(restore_best_weights=True)` with its value the best epoch's.
- **Same pruning steps**: automl and the script report epoch e as step e to Hyperband
  (min resource 1, reduction factor 3); the script uses a five-line callback for it, because
  optuna-integration's `KerasPruningCallback` reports epoch e as step e − 1, which would move
  every rung one epoch later and make the script train more.
- **Same clock**: each arm runs in a fresh process, timed from its interpreter's start
  (imports and data loading included, as a user waits for them) to its end; scoring on the
  test images is off the clock. automl's best trial is retrained from its stored
  hyperparameters and seed, off the clock, to score it on the test images (its kept model is in
  the arm's temporary MLflow store); `retrained_val` in the record shows it reached the study's
  value.
- **What differs, on purpose**: automl runs as a user runs it (MLflow tracking, top-K models,
  the registry and the test score on); the script keeps everything in memory and tracks nothing.
  automl updates Adam with TensorFlow's fused kernel; the script and KerasTuner use Keras's Adam.
- Test accuracy is on the same held-out images for every arm (for digits: the 359 images
  automl's split leaves out, a stratified 20%, seen only by the benchmark; for a generated set:
  its own test split, made from digits images none of its training images came from).
- **Time to quality**: every arm keeps its clock as each trial ends, so its best validation
  accuracy is known at every moment of its run. Seed by seed, the target is the weakest arm's
  best (every arm reaches it) and the wall is the quickest arm's (every arm ran that long).
- **A wall ratio taken apart**: the epochs an arm trained over the script's, times its seconds
  per epoch (whole command over epochs) over the script's. The first is where the search led
  each run (the same sampler seed, but the two runs' values differ from the first trial on, so
  their paths part); the second is what each epoch and the fixed costs cost. Two measurements
  of the same ratio, here or by another script timed the same way, differ mostly in the first:
  how many epochs the search happened to train, which three seeds do not average out.""",
    "parallel": """\
Every run trains the same queued configurations without pruning, so only the number of
workers changes; each ratio is taken within a round (the same machine at the same moment).""",
    "overhead": """\
Measured inside automl's own trials (same process, same moment): the seconds outside
`model.fit` per trial, including the gap to the next trial.""",
    "fixed_cost": """\
What a newcomer waits for beyond what any Keras script pays: each command timed from outside,
interpreter start to exit, back to back with a fresh interpreter importing TensorFlow and Keras
in the same round. The fork server's preload, step by step, shows what lies between that import
and a worker's first trial (the worker needs MLflow's client and SQL store before its first
trial's run can open).""",
    "ray_peer": """\
How the two arms are made comparable: the same Ray cluster (one node on loopback, 2 CPUs), the
same space, model builder and data split for a seed, 30 trials of at most 12 epochs, two trials
at once of one CPU each, the same pruning steps (epoch e reported as step e, to Hyperband with
min resource 1 and reduction factor 3 in automl, to successive halving with the same settings
in automl-asha, to ASHA with grace period 1, reduction factor 3 and max_t 12 in Ray Tune:
automl-asha and Ray Tune run the same pruning algorithm) and the same score (a trial's best
epoch's val accuracy). What
differs, on purpose: automl runs as a user runs it on a cluster (the study in PostgreSQL, the
runs, top-K models and the registry on an MLflow server) and gives each worker's TensorFlow one
thread per CPU Ray gives it; the Ray Tune script tracks nothing beyond Tune's own result files,
each trial a fresh actor (Tune's default) that imports TensorFlow and uses the threads
TensorFlow picks.""",
}
SECTIONS = (
    "compare",
    "parallel",
    "overhead",
    "fixed_cost",
    "memory",
    "pipeline",
    "checkpoint",
    "coordination",
    "ray_peer",
)


def section(record: dict[str, Any]) -> str:
    name = record["benchmark"]
    head = [
        f"## {record['question']}",
        "",
        f"`{record['command']}` · commit {record['commit']} · {record['date']} · "
        f"{record['minutes']} min · load {record['load_at_end']} at the end",
        "",
    ]
    fair = [FAIR[name], ""] if name in FAIR else []
    return "\n".join([*head, *fair, record["table"], ""])


def ordered(found: dict[str, dict[str, Any]]) -> list[str]:
    return [n for n in SECTIONS if n in found] + sorted(set(found) - set(SECTIONS))


def anchor(question: str) -> str:
    """The id mkdocs and GitHub give a heading: lower case, punctuation dropped, spaces as -."""
    kept = "".join(c for c in question.lower() if c.isalnum() or c in " -_")
    return kept.strip().replace(" ", "-")


def suite(found: dict[str, dict[str, Any]]) -> str:
    lines = [
        "| question | command | minutes | results |",
        "| --- | --- | --- | --- |",
    ]
    for name in ordered(found):
        r = found[name]
        link = f"[{name}](RESULTS.md#{anchor(r['question'])})"
        lines.append(f"| {r['question']} | `{r['command']}` | {r['minutes']} | {link} |")
    return "\n".join(lines)


def readme(found: dict[str, dict[str, Any]]) -> str:
    text = README.read_text(encoding="utf-8")
    start, end = text.index(SUITE[0]) + len(SUITE[0]), text.index(SUITE[1])
    return f"{text[:start]}\n{suite(found)}\n{text[end:]}"


def page(found: dict[str, dict[str, Any]]) -> str:
    order = ordered(found)
    machines = sorted({found[n]["machine"] for n in order})
    lines = [
        "# Benchmark results",
        "",
        "Made by `python -m benchmarks.report` from the records in `benchmarks/results/`; "
        "each section names the commit, date and command of its record. Do not edit by hand.",
        "",
        "Machine: " + "; ".join(machines) if machines else "No records yet.",
        "",
    ]
    return "\n".join(lines + [section(found[n]) for n in order]).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if RESULTS.md is stale")
    args = parser.parse_args(argv)
    found = records.load()
    made = {PAGE: page(found), DOCS: page(found), README: readme(found)}
    stale = [
        str(p.relative_to(records.ROOT))
        for p, text in made.items()
        if not p.exists() or p.read_text(encoding="utf-8") != text
    ]
    if args.check:
        for name in stale:
            print(f"{name} is not what the records say: run python -m benchmarks.report")
        return 1 if stale else 0
    for path, text in made.items():
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path.relative_to(records.ROOT)} ({text.count(chr(10))} lines)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
