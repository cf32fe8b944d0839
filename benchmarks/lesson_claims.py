"""The lesson's four claims, measured with automl itself.

Runs the study files in studies/lesson/ with `automl run` (one subprocess per study and seed,
`--set name=... --set seed=...`, `--workers 1`, a temporary Optuna journal and MLflow store),
reads the trials back from the storage, and writes docs/lesson-findings.md with a table per
claim (medians and spread over seeds), PNG plots in docs/lesson/, and the raw trials in
docs/lesson/results.json (so the page can be rendered again without training).

    PYTHONPATH=. python benchmarks/lesson_claims.py               # digits, seeds 0 1 2
    PYTHONPATH=. python benchmarks/lesson_claims.py --claims 3 --seeds 0 --set epochs=2 --out x
    PYTHONPATH=. python benchmarks/lesson_claims.py --dataset fashion_mnist   # if its data is here
    PYTHONPATH=. python benchmarks/lesson_claims.py --render      # the page from results.json

Claim 3 is judged by `automl.report.batch_norm.batch_norm_analysis`, the function behind
`automl report`'s batch-normalization view, so this page and the report say the same about the
same study.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from optuna.trial import FrozenTrial

    from automl.report.batch_norm import BatchNormFindings

ROOT = Path(__file__).resolve().parent.parent
STUDIES = ROOT / "studies" / "lesson"
DIRECTION = "maximize"
METRIC = "val_accuracy"
# Two accuracies closer than this count as equal: about 2 of digits' 360 validation images,
# below the spread one seed to the next gives the same configuration.
TIE = 0.005
# The lesson's decades of learning rate, and its example steps of β.
DECADES = (1e-4, 1e-3, 1e-2, 1e-1)
BETA_STEPS = ((0.9, 0.9005), (0.999, 0.9995))
# Where Keras keeps the lesson's other data sets (any one of these paths means present).
OTHER_DATASETS = {
    "fashion_mnist": ("fashion-mnist/train-images-idx3-ubyte.gz",),
    "cifar100": (
        "cifar-100-python/train",
        "cifar-100-python.tar.gz",
        "cifar-100-python-target/cifar-100-python/train",
    ),
}


@dataclass(frozen=True)
class Arm:
    """One study file of a claim's comparison."""

    claim: int
    key: str
    file: str


ARMS = (
    Arm(1, "linear", "claim1_lr_linear.yaml"),
    Arm(1, "log", "claim1_lr_log.yaml"),
    Arm(2, "linear", "claim2_beta2_linear.yaml"),
    Arm(2, "log1m", "claim2_beta2_log1m.yaml"),
    Arm(2, "pairs", "claim2_beta_pairs.yaml"),
    Arm(3, "grid", "claim3_bn_lr_grid.yaml"),
    Arm(4, "grid", "claim4_full_grid.yaml"),
    Arm(4, "tpe_hyperband", "claim4_tpe_hyperband.yaml"),
)


# ---------------------------------------------------------------------------- running


@dataclass
class ArmRun:
    """One `automl run` of one arm with one seed, and the trials it left."""

    claim: int
    arm: str
    seed: int
    study: str
    command: list[str]
    seconds: float
    trials: list[dict[str, Any]]


class RunFailed(RuntimeError):
    pass


def automl_command(
    path: Path, study: str, seed: int, storage: Path, tracking: str, sets: Sequence[str]
) -> list[str]:
    """`automl run` as a user would type it, with this study's name and seed set."""
    command = [sys.executable, "-m", "automl", "run", str(path)]
    command += ["--storage", str(storage), "--tracking-uri", tracking, "--workers", "1"]
    for item in (*sets, f"name={study}", f"seed={seed}"):
        command += ["--set", item]
    return command


def run_arm(
    arm: Arm, seed: int, folder: Path, sets: Sequence[str], dataset_tag: str, log: Path
) -> ArmRun:
    from automl.spec.reading import load_spec

    path = STUDIES / arm.file
    study = f"{load_spec(path).name}{dataset_tag}-s{seed}"
    storage = folder / "lesson.journal"
    command = automl_command(path, study, seed, storage, f"sqlite:///{folder / 'mlflow.db'}", sets)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    started = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True, env=env, cwd=folder)
    seconds = time.perf_counter() - started
    with log.open("a", encoding="utf-8") as f:
        f.write(f"$ {' '.join(command)}\n{proc.stdout}{proc.stderr}\n")
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise RunFailed(f"{arm.file} seed {seed}: exit {proc.returncode}: {' | '.join(tail)}")
    trials = [to_record(t) for t in load_trials(storage, study)]
    shown = [c if c != sys.executable else "python" for c in command]
    return ArmRun(arm.claim, arm.key, seed, study, shown, seconds, trials)


def load_trials(storage: Path, study: str) -> list[FrozenTrial]:
    import optuna

    from automl.run.storage import open_storage
    from automl.run.study import superseded

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    loaded = optuna.load_study(study_name=study, storage=open_storage(str(storage)))
    trials = loaded.get_trials(deepcopy=False)
    replaced = superseded(trials)  # a dead worker's trial, run again: count the retry only
    return [t for t in trials if t.number not in replaced]


def to_record(t: FrozenTrial) -> dict[str, Any]:
    """What the analysis needs of a trial, as JSON."""
    return {
        "number": t.number,
        "state": t.state.name,
        "value": t.value,
        "intermediate_values": {str(k): v for k, v in sorted(t.intermediate_values.items())},
        "user_attrs": {
            k: t.user_attrs[k]
            for k in ("hyperparameters", "epochs", "fail_reason", "seed")
            if k in t.user_attrs
        },
        "duration_s": t.duration.total_seconds() if t.duration else None,
    }


def from_record(r: dict[str, Any]) -> FrozenTrial:
    """A FrozenTrial again, as `automl.report.batch_norm.batch_norm_analysis` reads one from a
    storage."""
    from optuna.trial import FrozenTrial, TrialState

    now = dt.datetime.now()
    return FrozenTrial(
        number=int(r["number"]),
        state=TrialState[r["state"]],
        value=r["value"],
        datetime_start=now,
        datetime_complete=now,
        params={},
        distributions={},
        user_attrs=dict(r["user_attrs"]),
        system_attrs={},
        intermediate_values={int(k): float(v) for k, v in r["intermediate_values"].items()},
        trial_id=int(r["number"]),
    )


def dataset_problem(name: str, sets: Sequence[str], folder: Path) -> str | None:
    """Why automl cannot load a data set here (None when it can), asked of automl itself."""
    if name == "digits":
        return None
    probe = (
        "from automl.data.dataset import load_dataset\n"
        "from automl.spec.overrides import parse_sets\n"
        "from automl.spec.reading import load_spec\n"
        f"spec = load_spec({str(STUDIES / ARMS[0].file)!r}, parse_sets({list(sets)!r}))\n"
        "load_dataset(spec.dataset, 0)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"}
    try:
        proc = subprocess.run(
            [sys.executable, "-c", probe],
            capture_output=True,
            text=True,
            env=env,
            cwd=folder,
            timeout=300,
        )
    except subprocess.TimeoutExpired:
        return "loading it took more than 5 minutes (a download that cannot reach the internet?)"
    if proc.returncode == 0:
        return None
    return (proc.stderr.strip().splitlines() or ["it does not load"])[-1]


def steps_per_trial(sets: Sequence[str]) -> int:
    """The most optimizer steps one trial of claim 2 takes: epochs × batches per epoch."""
    from automl.data.dataset import load_dataset
    from automl.search.space import Hyperparameters
    from automl.spec.overrides import parse_sets
    from automl.spec.reading import load_spec

    spec = load_spec(STUDIES / "claim2_beta_pairs.yaml", parse_sets(sets))
    data = load_dataset(spec.dataset, spec.seed or 0)
    batch = int(spec.fixed.get("batch_size", Hyperparameters().batch_size))
    return spec.epochs * math.ceil(len(data.y_train) / batch)


def cached_keras_sets() -> dict[str, bool]:
    """Which of the lesson's other data sets lie in the Keras cache of this machine."""
    base = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "datasets"
    return {
        name: any((base / path).is_file() for path in paths)
        for name, paths in OTHER_DATASETS.items()
    }


# ---------------------------------------------------------------------------- analysis (pure)


def hp(t: FrozenTrial, name: str) -> Any:
    from automl.results.query import hyperparameters

    return hyperparameters(t).get(name)


def best_value(trials: Iterable[FrozenTrial]) -> float | None:
    """The study's best complete value (maximize), as `automl best` reports it."""
    values = [t.value for t in trials if t.state.name == "COMPLETE" and t.value is not None]
    return max(values) if values else None


def epochs_trained(t: FrozenTrial) -> int:
    return int(t.user_attrs.get("epochs", len(t.intermediate_values)))


def finished(trials: Iterable[FrozenTrial]) -> list[FrozenTrial]:
    return [t for t in trials if t.state.name in ("COMPLETE", "PRUNED", "FAIL")]


def decade_shares(values: Sequence[float], edges: Sequence[float] = DECADES) -> list[float]:
    """The share of values in each interval [edges[i], edges[i+1]); the last one is closed."""
    counts = [0] * (len(edges) - 1)
    for v in values:
        for i in range(len(counts)):
            last = i == len(counts) - 1
            if edges[i] <= v < edges[i + 1] or (last and v == edges[-1]):
                counts[i] += 1
                break
    total = len(values)
    return [c / total if total else 0.0 for c in counts]


def horizon(beta: float) -> float:
    """1/(1 − β): how many steps an exponential moving average with this β averages over."""
    return 1.0 / (1.0 - beta)


@dataclass(frozen=True)
class Spread:
    median: float
    low: float
    high: float
    n: int

    def show(self, digits: int = 4) -> str:
        if self.n == 1 or self.low == self.high:
            return f"{self.median:.{digits}f}"
        return f"{self.median:.{digits}f} [{self.low:.{digits}f}–{self.high:.{digits}f}]"

    def show_g(self) -> str:
        if self.n == 1 or self.low == self.high:
            return f"{self.median:.3g}"
        return f"{self.median:.3g} [{self.low:.3g}–{self.high:.3g}]"


def spread(values: Iterable[float | None]) -> Spread | None:
    """Median, lowest and highest over seeds; None where no seed gave a value."""
    xs = [float(v) for v in values if v is not None and math.isfinite(v)]
    if not xs:
        return None
    return Spread(statistics.median(xs), min(xs), max(xs), len(xs))


@dataclass(frozen=True)
class Comparison:
    """The lesson's choice against the other, seed by seed (paired: same seed, same data split)."""

    wins: int
    ties: int
    losses: int
    median_gain: float  # the lesson's choice minus the other, median over seeds
    verdict: str  # agrees | disagrees | no difference

    def show(self) -> str:
        return (
            f"{self.verdict}: better in {self.wins}, equal (within {TIE}) in {self.ties}, worse "
            f"in {self.losses} of {self.wins + self.ties + self.losses} seeds; median gain "
            f"{self.median_gain:+.4f}"
        )


def compare(lesson: Sequence[float | None], other: Sequence[float | None]) -> Comparison:
    """Paired by seed. The lesson's choice agrees when it is better by more than TIE at the
    median and in more seeds than it is worse; a gain within TIE is no difference."""
    gains = [a - b for a, b in zip(lesson, other, strict=True) if a is not None and b is not None]
    wins = sum(g > TIE for g in gains)
    losses = sum(g < -TIE for g in gains)
    median = statistics.median(gains) if gains else 0.0
    if median > TIE and wins > losses:
        verdict = "agrees"
    elif median < -TIE and losses > wins:
        verdict = "disagrees"
    else:
        verdict = "no difference"
    return Comparison(wins, len(gains) - wins - losses, losses, median, verdict)


def _final_values(
    trials: Sequence[FrozenTrial], name: str, other: str
) -> dict[tuple[float, float], float]:
    return {
        (float(hp(t, name)), float(hp(t, other))): float(t.value)
        for t in trials
        if t.state.name == "COMPLETE" and t.value is not None
    }


def step_effects(trials: Sequence[FrozenTrial], name: str, other: str) -> dict[float, float]:
    """For each of the lesson's β steps (0.9 -> 0.9005, 0.999 -> 0.9995): the mean absolute
    change in the final value when `name` takes that step, `other` held at each of its values."""
    values = _final_values(trials, name, other)
    others = sorted({o for _, o in values})
    out: dict[float, float] = {}
    for a, b in BETA_STEPS:
        diffs = [
            abs(values[(b, o)] - values[(a, o)])
            for o in others
            if (a, o) in values and (b, o) in values
        ]
        if diffs:
            out[a] = statistics.fmean(diffs)
    return out


def noise_near_one(trials: Sequence[FrozenTrial], name: str, other: str) -> float | None:
    """The noise the step 0.999 -> 0.9995 of `name` must beat: with `name` at 0.999 or 0.9995,
    the mean absolute change when only `other` takes the step the lesson calls negligible
    (0.9 -> 0.9005, a 0.5% change of 1/(1 - β))."""
    values = _final_values(trials, name, other)
    (a, b), near_one = BETA_STEPS[0], BETA_STEPS[1]
    diffs = [
        abs(values[(x, b)] - values[(x, a)])
        for x in near_one
        if (x, a) in values and (x, b) in values
    ]
    return statistics.fmean(diffs) if diffs else None


def jump_effect(trials: Sequence[FrozenTrial], name: str, other: str) -> float | None:
    """The mean change in the final value when `name` goes from 0.9 to 0.999 (1/(1 - β) from
    10 to 1000 steps), `other` held at each of its values; signed: negative is worse."""
    values = _final_values(trials, name, other)
    low, high = BETA_STEPS[0][0], BETA_STEPS[1][0]
    others = sorted({o for _, o in values})
    diffs = [
        values[(high, o)] - values[(low, o)]
        for o in others
        if (low, o) in values and (high, o) in values
    ]
    return statistics.fmean(diffs) if diffs else None


def anytime(trials: Sequence[FrozenTrial]) -> list[tuple[int, float]]:
    """(epochs trained so far, best complete value so far) after each trial, in trial order."""
    points: list[tuple[int, float]] = []
    epochs, best = 0, -math.inf
    for t in sorted(finished(trials), key=lambda t: t.number):
        epochs += epochs_trained(t)
        if t.state.name == "COMPLETE" and t.value is not None:
            best = max(best, float(t.value))
        if math.isfinite(best):
            points.append((epochs, best))
    return points


def epochs_to_reach(trials: Sequence[FrozenTrial], goal: float) -> int | None:
    """Epochs trained (all trials together) until the best value so far reached `goal`."""
    for epochs, best in anytime(trials):
        if best >= goal:
            return epochs
    return None


# ---------------------------------------------------------------------------- claims


@dataclass
class ClaimResult:
    claim: int
    title: str
    verdict: str  # one line for the summary table
    markdown: list[str] = field(default_factory=list)
    plots: list[str] = field(default_factory=list)


def runs_of(runs: Sequence[ArmRun], claim: int, arm: str) -> dict[int, list[FrozenTrial]]:
    return {
        r.seed: [from_record(t) for t in r.trials]
        for r in runs
        if r.claim == claim and r.arm == arm
    }


def seconds_of(runs: Sequence[ArmRun], claim: int, arm: str) -> list[float]:
    return [r.seconds for r in runs if r.claim == claim and r.arm == arm]


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def _seeds(by_seed: dict[int, Any]) -> list[int]:
    return sorted(by_seed)


def claim1(runs: Sequence[ArmRun], plots: Path) -> ClaimResult | None:
    lin, log = runs_of(runs, 1, "linear"), runs_of(runs, 1, "log")
    seeds = sorted(set(lin) & set(log))
    if not seeds:
        return None
    res = ClaimResult(1, "The learning rate is searched on a log scale", "")
    rows = []
    shares = {}
    for key, by_seed in (("linear", lin), ("log", log)):
        lrs = [float(hp(t, "learning_rate")) for s in seeds for t in finished(by_seed[s])]
        shares[key] = decade_shares(lrs)
        best = spread(best_value(by_seed[s]) for s in seeds)
        trained = spread(sum(epochs_trained(t) for t in finished(by_seed[s])) for s in seeds)
        rows.append(
            f"| {key} | {best.show() if best else '-'} | "
            + " | ".join(_pct(x) for x in shares[key])
            + f" | {len(lrs)} | {trained.show_g() if trained else '-'} |"
        )
    cmp = compare([best_value(log[s]) for s in seeds], [best_value(lin[s]) for s in seeds])
    best_lrs = {
        key: [best_param(by_seed[s], "learning_rate") for s in seeds]
        for key, by_seed in (("linear", lin), ("log", log))
    }
    head, words = _claim1_words(cmp, shares, best_lrs)
    res.verdict = (
        f"{head}: linear put {_pct(shares['linear'][-1])} of its trials in 0.01..0.1, log "
        f"{_pct(shares['log'][-1])}; best value {cmp.verdict} (log − linear "
        f"{cmp.median_gain:+.4f})"
    )
    res.markdown += [
        "Two TPE searches over the learning rate 1e-4..1e-1 with the same budget, median pruning "
        "and everything else fixed; they differ only in `log: true` "
        "(`studies/lesson/claim1_lr_linear.yaml`, `claim1_lr_log.yaml`).",
        "",
        "| scale | best val_accuracy, median [min–max] over seeds | trials in 1e-4..1e-3 | "
        "1e-3..1e-2 | 1e-2..1e-1 | trials (all seeds) | epochs trained per study | best "
        "trial's learning rate, per seed |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
        *[
            f"{row} {_lrs(best_lrs[key])} |"
            for row, key in zip(rows, ("linear", "log"), strict=True)
        ],
        "",
        f"- Best value, log against linear, seed by seed: {cmp.show()}.",
        "",
        words,
    ]
    res.plots.append(_plot_claim1(lin, log, seeds, shares, plots))
    return res


def best_param(trials: Sequence[FrozenTrial], name: str) -> float | None:
    """A hyperparameter of the study's best complete trial."""
    complete = [t for t in trials if t.state.name == "COMPLETE" and t.value is not None]
    if not complete:
        return None
    best = max(complete, key=lambda t: (float(t.value or 0.0), -t.number))
    return float(hp(best, name))


def _lrs(values: Iterable[float | None]) -> str:
    return " / ".join("-" if v is None else f"{v:.3g}" for v in values)


def _claim1_words(
    cmp: Comparison, shares: dict[str, list[float]], best_lrs: dict[str, list[float | None]]
) -> tuple[str, str]:
    lin_top, log_top = shares["linear"][-1], shares["log"][-1]
    crowded = lin_top > log_top
    if crowded:
        coverage = (
            "As the lesson says, the linear scale crowds the trials into the top decade "
            f"({_pct(lin_top)} of them in 0.01..0.1, against {_pct(log_top)} on the log scale)"
        )
    else:
        coverage = (
            "Unlike what the lesson expects, the linear search did not crowd its trials into "
            f"the top decade ({_pct(lin_top)} in 0.01..0.1, log {_pct(log_top)})"
        )
    if cmp.verdict == "agrees":
        head = "agrees" if crowded else "partly agrees"
        tail = "and the log search found the better model"
    elif cmp.verdict == "disagrees":
        head = "partly disagrees" if crowded else "disagrees"
        tail = "but the linear search found the better model"
    else:
        head = "agrees on coverage, no difference in the result" if crowded else "not shown"
        tail = f"but the best values differ by less than {TIE}"
    text = f"**{head.capitalize()}.** {coverage}, {tail}."
    found = [v for vs in best_lrs.values() for v in vs if v is not None]
    if cmp.verdict != "agrees" and found and min(found) >= DECADES[2]:
        text += (
            f" Every best trial had a learning rate in the top decade ({min(found):.3g}.."
            f"{max(found):.3g}), where a linear search samples most; the log scale pays off when "
            "the best rate lies lower, where a linear search hardly ever looks."
        )
    return head, text


def claim2(runs: Sequence[ArmRun], plots: Path, steps: int | None) -> ClaimResult | None:
    lin, log = runs_of(runs, 2, "linear"), runs_of(runs, 2, "log1m")
    pairs = runs_of(runs, 2, "pairs")
    seeds = sorted(set(lin) & set(log))
    if not seeds and not pairs:
        return None
    res = ClaimResult(2, "β near 1 is searched on a log scale of 1 − β", "")
    heads, words = [], []
    if seeds:
        rows = []
        long: dict[str, float] = {}
        for key, by_seed in (("linear", lin), ("log1m", log)):
            hs = [horizon(float(hp(t, "beta_2"))) for s in seeds for t in finished(by_seed[s])]
            long[key] = sum(x >= 100 for x in hs) / len(hs)
            best = spread(best_value(by_seed[s]) for s in seeds)
            h = spread(hs)
            rows.append(
                f"| {key} | {best.show() if best else '-'} | {h.show_g() if h else '-'} | "
                f"{_pct(long[key])} | {_pct(sum(x >= 1000 for x in hs) / len(hs))} | {len(hs)} |"
            )
        cmp = compare([best_value(log[s]) for s in seeds], [best_value(lin[s]) for s in seeds])
        res.markdown += [
            "Two TPE searches over Adam's β2 in 0.9..0.9999 at a fixed learning rate 0.01, the "
            "same budget; they differ only in `scale: log1m` "
            "(`claim2_beta2_linear.yaml`, `claim2_beta2_log1m.yaml`).",
            "",
            "| scale | best val_accuracy, median [min–max] | 1/(1 − β2) tried, median [min–max] | "
            "β2 ≥ 0.99 | β2 ≥ 0.999 | trials (all seeds) |",
            "| --- | --- | --- | --- | --- | --- |",
            *rows,
            "",
            f"- Best value, log1m against linear, seed by seed: {cmp.show()}.",
        ]
        spread_out = long["log1m"] > long["linear"]
        heads.append(
            f"search: β2 ≥ 0.99 tried in {_pct(long['log1m'])} (log1m) vs "
            f"{_pct(long['linear'])} (linear), best value {cmp.verdict} "
            f"(log1m − linear {cmp.median_gain:+.4f})"
        )
        words.append(
            (
                "As the lesson wants, the log1m scale spread the averaging horizon 1/(1 − β2) "
                f"over decades and tried β2 ≥ 0.99 in {_pct(long['log1m'])} of its trials; the "
                f"linear range did in {_pct(long['linear'])}. "
                if spread_out
                else "Unlike what the lesson expects, the log1m search did not try β2 near 1 "
                f"more often than the linear one ({_pct(long['log1m'])} vs "
                f"{_pct(long['linear'])} at β2 ≥ 0.99). "
            )
            + {
                "agrees": "It also found the better model.",
                "disagrees": "But the linear search found the better model.",
                "no difference": f"The best values differ by less than {TIE}: on this problem "
                "β2 changes the result too little for the scale to matter.",
            }[cmp.verdict]
        )
        res.plots.append(_plot_claim2(lin, log, seeds, plots))
    if pairs:
        res.markdown += ["", *_pairs_table(pairs)]
        verdicts = _pairs_verdicts(pairs)
        effects = _pairs_effects(pairs)
        heads.append(
            "the lesson's β steps: " + ", ".join(f"{_greek(b)} {v}" for b, v in verdicts.items())
        )
        for name, per_seed in effects.items():
            small, large, noise, jump = (
                spread(e[k] for e in per_seed) for k in ("small", "large", "noise", "jump")
            )
            if small is None or large is None:
                continue
            other = _greek("beta_2" if name == "beta_1" else "beta_1")
            agreeing = sum(e["verdict"] == "agrees" for e in per_seed)
            words.append(
                f"{_greek(name)}: 0.9 → 0.9005 moved val_accuracy by {small.median:.4f}, "
                f"0.999 → 0.9995 by {large.median:.4f}; with {_greek(name)} near 1, "
                f"{other} 0.9 → 0.9005 moved it by "
                f"{noise.median if noise is not None else math.nan:.4f} (medians over seeds). "
                f"The step near 1 beat both in {agreeing} of {len(per_seed)} seeds. "
                + (
                    f"Going from 0.9 to 0.999 changed val_accuracy by {jump.median:+.4f}."
                    if jump is not None
                    else ""
                )
            )
        res.plots.append(_plot_pairs(pairs, plots))
    res.verdict = "; ".join(heads)
    if steps is not None and any(w in res.verdict for w in ("no difference", "disagrees")):
        words.append(
            f"Why β may matter little here: a trial trains for at most {steps} steps, while "
            "β2 = 0.999 averages over 1,000 steps and 0.9995 over 2,000. Adam's bias correction "
            "divides by 1 − β2^t, so while t is far below 1/(1 − β2) both estimate the plain "
            "average of the squared gradients so far and behave alike; the lesson's "
            "0.999 → 0.9995 can only matter in training that runs for thousands of steps."
        )
    res.markdown += ["", *[f"- {w}" for w in words]]
    return res


def _greek(name: str) -> str:
    return {"beta_1": "β1", "beta_2": "β2"}.get(name, name)


def _pairs_effects(pairs: dict[int, list[FrozenTrial]]) -> dict[str, list[dict[str, Any]]]:
    """Per β, per seed: the step near 0.9, the step near 1, the noise near 1, the jump
    0.9 -> 0.999, and the verdict."""
    out: dict[str, list[dict[str, Any]]] = {}
    for name, other in (("beta_1", "beta_2"), ("beta_2", "beta_1")):
        out[name] = []
        for seed in sorted(pairs):
            steps = step_effects(pairs[seed], name, other)
            e: dict[str, Any] = {
                "small": steps.get(BETA_STEPS[0][0]),
                "large": steps.get(BETA_STEPS[1][0]),
                "noise": noise_near_one(pairs[seed], name, other),
                "jump": jump_effect(pairs[seed], name, other),
            }
            e["verdict"] = pairs_verdict(e["small"], e["large"], e["noise"])
            out[name].append(e)
    return out


def pairs_verdict(small: float | None, large: float | None, noise: float | None) -> str:
    """Agrees when the step near 1 moves the result more than both the step near 0.9 and the
    noise near 1 do, by more than TIE."""
    if small is None or large is None:
        return "not measured"
    if large - max(small, noise or 0.0) > TIE:
        return "agrees"
    if small - large > TIE:
        return "disagrees"
    return "no difference"


def _pairs_verdicts(pairs: dict[int, list[FrozenTrial]]) -> dict[str, str]:
    return {
        name: _majority(Counter(e["verdict"] for e in per_seed), len(per_seed))
        for name, per_seed in _pairs_effects(pairs).items()
    }


def _pairs_table(pairs: dict[int, list[FrozenTrial]]) -> list[str]:
    effects = _pairs_effects(pairs)
    verdicts = _pairs_verdicts(pairs)
    rows = []
    for name, per_seed in effects.items():
        cells = []
        for key in ("small", "large", "noise", "jump"):
            sp = spread(e[key] for e in per_seed)
            cells.append("-" if sp is None else sp.show())
        rows.append(f"| {_greek(name)} | " + " | ".join(cells) + f" | {verdicts[name]} |")
    return [
        "The lesson's own example (`claim2_beta_pairs.yaml`): every combination of β1 and β2 in "
        "{0.9, 0.9005, 0.999, 0.9995}, learning rate 0.01. For each β, the mean absolute change "
        "in val_accuracy when it takes a step, the other β held at each of its four values; the "
        "noise near 1: with this β at 0.999 or 0.9995, the change when only the other β takes the "
        "step the lesson calls negligible (0.9 → 0.9005); and the mean signed change from 0.9 to "
        "0.999. Median [min–max] over seeds; the verdict is taken per seed (the step near 1 must "
        f"beat both the step near 0.9 and the noise near 1 by more than {TIE}):",
        "",
        "| β | 0.9 → 0.9005 | 0.999 → 0.9995 | noise near 1 | 0.9 → 0.999 (signed) | the step "
        "near 1 matters more |",
        "| --- | --- | --- | --- | --- | --- |",
        *rows,
        "",
        "val_accuracy by β1 (rows) and β2 (columns), median over seeds:",
        "",
        *_pairs_grid(pairs),
    ]


def _pairs_grid(pairs: dict[int, list[FrozenTrial]]) -> list[str]:
    cells: dict[tuple[float, float], list[float]] = {}
    for trials in pairs.values():
        for t in trials:
            if t.state.name == "COMPLETE" and t.value is not None:
                key = (float(hp(t, "beta_1")), float(hp(t, "beta_2")))
                cells.setdefault(key, []).append(float(t.value))
    b1s = sorted({k[0] for k in cells})
    b2s = sorted({k[1] for k in cells})
    lines = [
        "| β1 \\ β2 | " + " | ".join(f"{b:g}" for b in b2s) + " |",
        "| --- |" + " --- |" * len(b2s),
    ]
    for b1 in b1s:
        row = [
            f"{statistics.median(cells[(b1, b2)]):.4f}" if (b1, b2) in cells else "-" for b2 in b2s
        ]
        lines.append(f"| {b1:g} | " + " | ".join(row) + " |")
    return lines


def claim3(runs: Sequence[ArmRun], plots: Path) -> ClaimResult | None:
    from automl.report.batch_norm import batch_norm_analysis

    grid = runs_of(runs, 3, "grid")
    if not grid:
        return None
    seeds = sorted(grid)
    findings = {s: batch_norm_analysis(grid[s], DIRECTION, metric=METRIC) for s in seeds}
    found = {s: f for s, f in findings.items() if f is not None}
    res = ClaimResult(
        3, "Batch normalization allows higher learning rates and converges faster", ""
    )
    if not found:
        res.verdict = "not measured: batch_norm did not vary"
        return res
    rows = []
    for bn in (True, False):
        stats = [found[s].with_bn if bn else found[s].without_bn for s in found]
        hi = spread(st.max_tolerated_lr for st in stats)
        best = spread(st.best_value for st in stats)
        fewest = spread(st.fewest_epochs for st in stats)
        med = spread(st.median_epochs for st in stats)
        rows.append(
            f"| {'with BN' if bn else 'without BN'} | {hi.show_g() if hi else '-'} | "
            f"{_lrs(st.max_tolerated_lr for st in stats)} | "
            f"{best.show() if best else '-'} | {fewest.show_g() if fewest else 'never'} | "
            f"{med.show_g() if med else '-'} |"
        )
    faster = Counter(f.faster for f in found.values())
    higher = Counter(f.higher_lr for f in found.values())
    target = spread(f.target for f in found.values())
    n = len(found)
    res.verdict = (
        f"higher learning rates: {_majority(higher, n)}; faster convergence: {_majority(faster, n)}"
    )
    res.markdown += [
        "A grid of learning rates 1e-4..1 (9 points on a log scale) × batch normalization on/off, "
        "BN momentum 0.9, 8 full epochs each (`studies/lesson/claim3_bn_lr_grid.yaml`). Judged "
        "per seed by `automl.report.batch_norm.batch_norm_analysis`, the function behind the "
        "batch-normalization view of `automl report`: a learning rate *still trains* when the "
        "trial did not diverge and reached 80% of the study's best; the target is 95% of the "
        f"study's best (median target {target.show() if target else '-'}).",
        "",
        "| | highest learning rate that still trains, median [min–max] | per seed | best "
        "val_accuracy | fewest epochs to the target | median epochs to the target |",
        "| --- | --- | --- | --- | --- | --- |",
        *rows,
        "",
        f"- Higher learning rates: {_counts(higher)} of {n} seeds.",
        f"- Faster convergence (fewest epochs to the target; the median breaks a tie): "
        f"{_counts(faster)} of {n} seeds.",
        "",
        "What `automl report` says about each of these studies (the same function, the same "
        "words):",
        "",
        *[f"- seed {s}: {found[s].summary}" for s in found],
        "",
        _claim3_words(higher, faster, n),
    ]
    res.plots += _plot_claim3(grid, found, plots)
    return res


def _counts(c: Counter[str]) -> str:
    return ", ".join(f"{k} in {v}" for k, v in sorted(c.items(), key=lambda kv: -kv[1]))


def _majority(c: Counter[str], n: int) -> str:
    word, count = c.most_common(1)[0]
    return f"{word} ({count} of {n} seeds)" if count > n / 2 else f"mixed ({_counts(c)})"


def _claim3_words(higher: Counter[str], faster: Counter[str], n: int) -> str:
    parts = []
    for what, counts in (("higher learning rates", higher), ("faster convergence", faster)):
        word, count = counts.most_common(1)[0]
        parts.append(
            f"{what}: {word} in {count} of {n} seeds"
            if count > n / 2
            else f"{what}: the seeds disagree with one another ({_counts(counts)})"
        )
    return (
        "**" + "; ".join(parts).capitalize() + ".** The paper's \"same accuracy in 14 times fewer "
        'steps" is an ImageNet result; here every run lasts 8 epochs of a two-block network, so '
        "what can be compared is the epochs each setting needed to reach the target within those "
        "8, and the highest learning rate at which each still trained."
    )


def claim4(runs: Sequence[ArmRun], plots: Path) -> ClaimResult | None:
    grid, smart = runs_of(runs, 4, "grid"), runs_of(runs, 4, "tpe_hyperband")
    seeds = sorted(set(grid) & set(smart))
    if not seeds:
        return None
    res = ClaimResult(4, "Grid search works but costs; TPE + Hyperband gets there for less", "")
    rows = []
    per_arm: dict[str, dict[str, list[Any]]] = {}
    for key, by_seed in (("full grid", grid), ("TPE + Hyperband", smart)):
        arm = "grid" if by_seed is grid else "tpe_hyperband"
        epochs = [sum(epochs_trained(t) for t in finished(by_seed[s])) for s in seeds]
        best = [best_value(by_seed[s]) for s in seeds]
        states = Counter(t.state.name for s in seeds for t in by_seed[s])
        secs = seconds_of(runs, 4, arm)
        per_arm[key] = {"epochs": epochs, "best": best}
        b, e, w = spread(best), spread(epochs), spread(secs)
        rows.append(
            f"| {key} | {b.show() if b else '-'} | {e.show_g() if e else '-'} | "
            f"{len(by_seed[seeds[0]])} | "
            + ", ".join(f"{v} {k.lower()}" for k, v in sorted(states.items()))
            + f" | {w.show_g() if w else '-'} |"
        )
    reach = [epochs_to_reach(smart[s], (best_value(grid[s]) or 0.0) - TIE) for s in seeds]
    cmp = compare(per_arm["TPE + Hyperband"]["best"], per_arm["full grid"]["best"])
    cheaper = sum(
        a < b
        for a, b in zip(
            per_arm["TPE + Hyperband"]["epochs"], per_arm["full grid"]["epochs"], strict=True
        )
    )
    ratio = spread(
        a / b
        for a, b in zip(
            per_arm["TPE + Hyperband"]["epochs"], per_arm["full grid"]["epochs"], strict=True
        )
    )
    reached = [r for r in reach if r is not None]
    grid_epochs = spread(per_arm["full grid"]["epochs"])
    cheap = cheaper > len(seeds) / 2
    if cmp.verdict == "disagrees":
        head = "partly disagrees" if cheap else "disagrees"
    elif cheap:
        head = "agrees"
    else:
        head = "partly agrees" if cmp.verdict == "agrees" else "disagrees"
    res.verdict = (
        f"{head}: TPE + Hyperband trained {ratio.show_g() if ratio else '-'} of the grid's "
        f"epochs; best value {cmp.verdict} (TPE + Hyperband − grid {cmp.median_gain:+.4f})"
    )
    pruned = [t for s in seeds for t in smart[s] if t.state.name == "PRUNED"]
    total = sum(len(smart[s]) for s in seeds)
    beta_range = spread(_range_at_best_lr(grid[s]) for s in seeds)
    lr_range = spread(_range_over_lrs(grid[s]) for s in seeds)
    res.markdown += [
        "The lesson's grid, every value it names (α 0.0001, 0.001, 0.01, 0.1 × β1 0.8, 0.88, 0.9 "
        "× β2 0.998, 0.999, 0.9995: 36 full runs, `claim4_full_grid.yaml`), against TPE over the "
        "same ranges with Hyperband pruning and the same number of trials "
        "(`claim4_tpe_hyperband.yaml`). Compute is counted in epochs trained, all trials "
        "together; wall time includes starting `automl run` and its worker.",
        "",
        "| search | best val_accuracy, median [min–max] | epochs trained | trials | states "
        "(all seeds) | seconds per study |",
        "| --- | --- | --- | --- | --- | --- |",
        *rows,
        "",
        f"- TPE + Hyperband trained fewer epochs than the grid in {cheaper} of {len(seeds)} seeds "
        f"(ratio {ratio.show_g() if ratio else '-'}); Hyperband stopped {len(pruned)} of its "
        f"{total} trials early, after "
        f"{statistics.fmean(epochs_trained(t) for t in pruned) if pruned else 0:.1f} epochs on "
        "average.",
        f"- Best value, TPE + Hyperband against the grid: {cmp.show()}.",
        f"- Epochs TPE + Hyperband needed to come within {TIE} of the grid's best: "
        + ", ".join("never" if r is None else str(r) for r in reach)
        + f" (the grid: {grid_epochs.show_g() if grid_epochs else '-'}); reached in "
        f"{len(reached)} of {len(seeds)} seeds.",
        f"- Where the grid's trials went: at its best learning rate, its 9 β1 × β2 combinations "
        f"spanned {beta_range.show() if beta_range else '-'} in val_accuracy; the best values of "
        f"its 4 learning rates spanned {lr_range.show() if lr_range else '-'} (medians over "
        "seeds).",
        "",
        _claim4_words(head, cmp),
    ]
    res.plots.append(_plot_claim4(grid, smart, seeds, plots))
    return res


def _range_at_best_lr(trials: Sequence[FrozenTrial]) -> float | None:
    """How far apart the trials at the best trial's learning rate lie (the β combinations)."""
    lr = best_param(trials, "learning_rate")
    values = [
        float(t.value)
        for t in trials
        if t.state.name == "COMPLETE" and t.value is not None and hp(t, "learning_rate") == lr
    ]
    return max(values) - min(values) if values else None


def _range_over_lrs(trials: Sequence[FrozenTrial]) -> float | None:
    """How far apart the best values of the different learning rates lie."""
    best: dict[float, float] = {}
    for t in trials:
        if t.state.name == "COMPLETE" and t.value is not None:
            lr = float(hp(t, "learning_rate"))
            best[lr] = max(best.get(lr, -math.inf), float(t.value))
    return max(best.values()) - min(best.values()) if best else None


def _claim4_words(head: str, cmp: Comparison) -> str:
    return (
        f"**{head.capitalize()}.** "
        + {
            "agrees": "TPE + Hyperband trained fewer epochs and its best model was "
            + ("better than" if cmp.verdict == "agrees" else f"within {TIE} of")
            + " the grid's.",
            "partly disagrees": "TPE + Hyperband trained fewer epochs, but the grid found the "
            "better model.",
            "partly agrees": "TPE + Hyperband found the better model, but trained no fewer epochs.",
            "disagrees": "TPE + Hyperband trained no fewer epochs and found no better model.",
        }[head]
    )


# ---------------------------------------------------------------------------- plots


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    _pyplot().close(fig)
    return path.name


def _best_reached(t: FrozenTrial) -> float | None:
    values = [v for v in t.intermediate_values.values() if math.isfinite(v)]
    return max(values) if values else None


def _plot_claim1(
    lin: Any, log: Any, seeds: list[int], shares: dict[str, list[float]], plots: Path
) -> str:
    plt = _pyplot()
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.8))
    labels = ["1e-4..1e-3", "1e-3..1e-2", "1e-2..1e-1"]
    xs = range(len(labels))
    for i, (key, color) in enumerate((("linear", "#d62728"), ("log", "#1f77b4"))):
        a.bar([x + (i - 0.5) * 0.38 for x in xs], shares[key], width=0.38, label=key, color=color)
    a.set_xticks(list(xs), labels)
    a.set_ylabel("share of trials (all seeds)")
    a.set_title("Where the learning rates tried fell")
    a.legend()
    for key, by_seed, color in (("linear", lin, "#d62728"), ("log", log, "#1f77b4")):
        pts = [
            (float(hp(t, "learning_rate")), _best_reached(t))
            for s in seeds
            for t in finished(by_seed[s])
        ]
        pts = [(x, y) for x, y in pts if y is not None]
        b.scatter([p[0] for p in pts], [p[1] for p in pts], s=18, alpha=0.7, label=key, color=color)
    b.set_xscale("log")
    b.set_xlabel("learning rate")
    b.set_ylabel("best val_accuracy reached")
    b.set_title("Every trial, all seeds")
    b.legend()
    return _save(fig, plots / "claim1-learning-rate.png")


def _plot_claim2(lin: Any, log: Any, seeds: list[int], plots: Path) -> str:
    plt = _pyplot()
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.8))
    for i, (key, by_seed, color) in enumerate(
        (("linear", lin, "#d62728"), ("log1m", log, "#1f77b4"))
    ):
        hs = [horizon(float(hp(t, "beta_2"))) for s in seeds for t in finished(by_seed[s])]
        a.scatter(hs, [i] * len(hs), s=22, alpha=0.6, color=color)
        pts = [
            (horizon(float(hp(t, "beta_2"))), _best_reached(t))
            for s in seeds
            for t in finished(by_seed[s])
        ]
        pts = [(x, y) for x, y in pts if y is not None]
        b.scatter([p[0] for p in pts], [p[1] for p in pts], s=18, alpha=0.7, label=key, color=color)
    a.set_yticks([0, 1], ["linear", "log1m"])
    a.set_ylim(-0.5, 1.5)
    for ax in (a, b):
        ax.set_xscale("log")
        ax.set_xlabel("1/(1 − β2): steps the average spans")
    a.set_title("β2 tried (all seeds)")
    b.set_ylabel("best val_accuracy reached")
    b.set_title("Result against 1/(1 − β2)")
    b.legend()
    return _save(fig, plots / "claim2-beta2.png")


def _plot_pairs(pairs: dict[int, list[FrozenTrial]], plots: Path) -> str:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 3.8))
    width = 0.38
    groups = {"small": "0.9 → 0.9005", "large": "0.999 → 0.9995", "noise": "noise near 1"}
    for i, (name, per_seed) in enumerate(_pairs_effects(pairs).items()):
        color = ("#9467bd", "#8c564b")[i]
        for j, key in enumerate(groups):
            ys = [e[key] for e in per_seed if e[key] is not None]
            x = j + (i - 0.5) * width
            ax.bar(
                x,
                statistics.median(ys) if ys else 0,
                width=width,
                color=color,
                label=_greek(name) if j == 0 else None,
            )
            ax.scatter([x] * len(ys), ys, color="k", s=10, zorder=3)
    ax.set_xticks(range(len(groups)), list(groups.values()))
    ax.set_ylabel("mean |Δ val_accuracy|")
    ax.set_title("How much the lesson's β steps move the result (dots: seeds)")
    ax.legend()
    return _save(fig, plots / "claim2-beta-steps.png")


def _plot_claim3(
    grid: dict[int, list[FrozenTrial]], found: dict[int, BatchNormFindings], plots: Path
) -> list[str]:
    plt = _pyplot()
    colors = {True: "#ff7f0e", False: "#2ca02c"}
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for bn in (True, False):
        by_lr: dict[float, list[float]] = {}
        for trials in grid.values():
            for t in trials:
                if bool(hp(t, "batch_norm")) == bn:
                    v = _best_reached(t)
                    by_lr.setdefault(float(hp(t, "learning_rate")), []).append(
                        v if v is not None else 0.0
                    )
        lrs = sorted(by_lr)
        ax.plot(
            lrs,
            [statistics.median(by_lr[x]) for x in lrs],
            "o-",
            color=colors[bn],
            label="with BN" if bn else "without BN",
        )
        ax.fill_between(
            lrs,
            [min(by_lr[x]) for x in lrs],
            [max(by_lr[x]) for x in lrs],
            color=colors[bn],
            alpha=0.2,
        )
    threshold = statistics.median(f.threshold for f in found.values())
    ax.axhline(threshold, ls="--", color="#888", lw=1)
    ax.text(1e-4, threshold + 0.01, "still trains above (80% of best)", fontsize=8, color="#555")
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("best val_accuracy reached")
    ax.set_title("Learning rates that still train (median; band: min–max over seeds)")
    ax.legend()
    first = _save(fig, plots / "claim3-learning-rates.png")

    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    cmap = plt.get_cmap("viridis")
    lrs = sorted({float(hp(t, "learning_rate")) for ts in grid.values() for t in ts})
    for ax, bn in zip(axes, (True, False), strict=True):
        for i, lr in enumerate(lrs):
            curves = [
                t.intermediate_values
                for ts in grid.values()
                for t in ts
                if bool(hp(t, "batch_norm")) == bn
                and float(hp(t, "learning_rate")) == lr
                and t.intermediate_values
            ]
            if not curves:
                continue
            steps = sorted({s for c in curves for s in c})
            ys = [statistics.median([c[s] for c in curves if s in c]) for s in steps]
            ax.plot(steps, ys, "-o", ms=3, color=cmap(i / max(1, len(lrs) - 1)), label=f"{lr:.3g}")
        target = statistics.median(f.target for f in found.values())
        ax.axhline(target, ls=":", color="#555", lw=1)
        ax.set_title(("With" if bn else "Without") + " BN: median curve per learning rate")
        ax.set_xlabel("epoch")
    axes[0].set_ylabel("val_accuracy (dotted: target)")
    axes[1].legend(title="learning rate", fontsize=7, ncol=2)
    second = _save(fig, plots / "claim3-curves.png")
    return [first, second]


def _plot_claim4(grid: Any, smart: Any, seeds: list[int], plots: Path) -> str:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    finals = []
    for key, by_seed, color in (
        ("full grid", grid, "#d62728"),
        ("TPE + Hyperband", smart, "#1f77b4"),
    ):
        for i, s in enumerate(seeds):
            pts = anytime(by_seed[s])
            finals += [p[1] for p in pts[-1:]]
            ax.step(
                [p[0] for p in pts],
                [p[1] for p in pts],
                where="post",
                color=color,
                alpha=0.8,
                label=key if i == 0 else None,
            )
    if finals:  # the early, poor trials would squash the part that tells the searches apart
        ax.set_ylim(max(0.0, min(finals) - 0.05), min(1.0, max(finals) + 0.01))
    ax.set_xlabel("epochs trained, all trials together")
    ax.set_ylabel("best val_accuracy so far")
    ax.set_title("Best value against compute (one line per seed)")
    ax.legend()
    return _save(fig, plots / "claim4-compute.png")


# ---------------------------------------------------------------------------- the page


def render(results: dict[str, Any], page: Path, plots: Path) -> list[ClaimResult]:
    runs = [ArmRun(**r) for r in results["runs"]]
    claims = [
        c
        for c in (
            claim1(runs, plots),
            claim2(runs, plots, results["settings"].get("steps_per_trial")),
            claim3(runs, plots),
            claim4(runs, plots),
        )
        if c is not None
    ]
    s = results["settings"]
    rel = os.path.relpath(plots, page.parent)
    lines = [
        f"# The lesson's claims, measured ({s['dataset']})",
        "",
        "The course chapter behind automl makes four claims about tuning. This page checks each "
        "with automl itself: the study files in `studies/lesson/` run with `automl run`, "
        f"{len(s['seeds'])} seeds each (`--set seed=N`: the seed moves the sampler, the "
        "validation split and every model's initialization), and the trials are read back from "
        "the Optuna storage. Every number below comes from that run; the verdicts are computed "
        "from the numbers by `benchmarks/lesson_claims.py`, not written by hand.",
        "",
        f"- Made by: `{s['command']}`",
        f"- Data: {s['dataset']}; seeds {', '.join(map(str, s['seeds']))}"
        + (f"; overrides {', '.join(s['sets'])}" if s["sets"] else "")
        + f"; {s['machine']}; {s['duration_s'] / 60:.1f} minutes in all"
        + (f" ({s['cpu_s'] / 60:.1f} minutes of CPU time)" if "cpu_s" in s else "")
        + f", {s['date']}.",
        f"- Two best values closer than {TIE} count as equal (about 2 of digits' 360 validation "
        "images). Medians over seeds, [min–max] the spread.",
    ]
    if s.get("note"):
        lines.append(f"- **{s['note']}**")
    lines += ["", "| claim | verdict |", "| --- | --- |"]
    lines += [f"| {c.claim}. {c.title} | {c.verdict} |" for c in claims]
    for c in claims:
        lines += ["", f"## {c.claim}. {c.title}", "", *c.markdown, ""]
        lines += [f"![claim {c.claim}]({rel}/{p})" for p in c.plots]
    lines += ["", "## Reproduce", "", *_reproduce(results)]
    page.parent.mkdir(parents=True, exist_ok=True)
    page.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return claims


def _reproduce(results: dict[str, Any]) -> list[str]:
    s = results["settings"]
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
        "The whole page: `PYTHONPATH=. python benchmarks/lesson_claims.py` (add `--keep DIR` to "
        "keep the Optuna storage and MLflow store for `automl report`, `automl best`). "
        "`--render` rewrites the page and plots from the trials recorded in "
        "`docs/lesson/results.json`.",
    ]
    cached = s.get("other_datasets", {})
    if cached:
        missing = [n for n, present in cached.items() if not present]
        if missing:
            out += [
                "",
                f"Not measured here: {', '.join(missing)} (not in the Keras cache of the machine "
                "that made this page). Where the data is present: `PYTHONPATH=. python "
                "benchmarks/lesson_claims.py --dataset fashion_mnist` writes "
                "`docs/lesson-findings-fashion_mnist.md` (the first `--max-samples` images, "
                "10,000 by default).",
            ]
    return out


# ---------------------------------------------------------------------------- main


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--claims", type=int, nargs="+", default=[1, 2, 3, 4])
    parser.add_argument("--dataset", default="digits", help="digits, fashion_mnist, cifar100, ...")
    parser.add_argument(
        "--max-samples",
        type=int,
        default=None,
        help="images taken from a data set other than digits (default 10000)",
    )
    parser.add_argument(
        "--set",
        dest="sets",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="passed to every `automl run` (e.g. epochs=2 for a quick check)",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "docs", help="folder of the page")
    parser.add_argument(
        "--keep",
        type=Path,
        default=None,
        help="keep the Optuna journal and MLflow store in this folder",
    )
    parser.add_argument("--note", default="", help="a line shown at the top of the page")
    parser.add_argument(
        "--render",
        action="store_true",
        help="only rewrite the page and plots from the recorded results.json",
    )
    args = parser.parse_args(argv)

    tag = "" if args.dataset == "digits" else f"-{args.dataset}"
    page = args.out / f"lesson-findings{tag}.md"
    plots = args.out / "lesson" / args.dataset if tag else args.out / "lesson"
    data_file = plots / "results.json"
    if args.render:
        results = json.loads(data_file.read_text(encoding="utf-8"))
        _report(render(results, page, plots), page)
        return 0

    sets = list(args.sets)
    if args.dataset != "digits":
        sets = [
            f"dataset={args.dataset}",
            f"dataset.max_samples={args.max_samples or 10000}",
            *sets,
        ]
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
        log = folder / "runs.log"
        started = time.perf_counter()
        cpu_before = _children_cpu()
        runs: list[ArmRun] = []
        for seed in args.seeds:
            for arm in (a for a in ARMS if a.claim in args.claims):
                print(f"claim {arm.claim} {arm.key} seed {seed} ...", flush=True)
                run = run_arm(arm, seed, folder, sets, tag, log)
                print(f"  {run.study}: {len(run.trials)} trials, {run.seconds:.0f} s", flush=True)
                runs.append(run)
        duration = time.perf_counter() - started
        cpu = _children_cpu() - cpu_before
    load = os.getloadavg()[1]  # the last 5 minutes: other jobs on the machine slow every run
    shown = " ".join(
        ["python", "benchmarks/lesson_claims.py", *(argv if argv is not None else sys.argv[1:])]
    )
    results = {
        "settings": {
            "command": f"PYTHONPATH=. {shown}",
            "dataset": args.dataset,
            "seeds": args.seeds,
            "claims": args.claims,
            "sets": sets,
            "note": args.note,
            "date": dt.date.today().isoformat(),
            "duration_s": duration,
            "cpu_s": cpu,
            "machine": f"{os.cpu_count()} CPU cores ({platform.machine()}), Python "
            f"{platform.python_version()}, {platform.system()}, 5-minute load average {load:.1f} "
            "at the end (this run included)",
            "other_datasets": cached_keras_sets() if args.dataset == "digits" else {},
            "steps_per_trial": steps_per_trial(sets),
        },
        "runs": [asdict(r) for r in runs],
    }
    plots.mkdir(parents=True, exist_ok=True)
    data_file.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    _report(render(results, page, plots), page)
    print(f"{duration / 60:.1f} minutes")
    return 0


def _children_cpu() -> float:
    """CPU seconds (user + system) of every finished child process: `automl run` and the
    workers it waited for. On an otherwise idle machine the run takes about this long."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _report(claims: list[ClaimResult], page: Path) -> None:
    print(f"wrote {page}")
    for c in claims:
        print(f"claim {c.claim}: {c.verdict}")


if __name__ == "__main__":
    raise SystemExit(main())
