"""The lesson's studies and the experiment that measures its claims (experiments/lesson/).

The studies are checked as a user would run them; the experiment's analysis is checked on trial
lists written here, whose right answers are known; one slow test runs the experiment for real and
compares its claim-3 verdict with what `automl report` prints for the same study.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from automl.cli.app import app
from automl.report.batch_norm import batch_norm_analysis
from automl.spec.reading import load_spec
from automl.spec.schema import Range
from experiments.lesson.arms import ARMS
from experiments.lesson.betas import horizon, noise_near_one, pairs_verdict, step_effects
from experiments.lesson.claim1 import decade_shares
from experiments.lesson.environment import cached_keras_sets, code_commit
from experiments.lesson.page import render
from experiments.lesson.parts import claims_and_seeds
from experiments.lesson.runs import from_record, to_record
from experiments.lesson.stats import compare
from experiments.lesson.trials import anytime, best_value, epochs_to_reach

ROOT = Path(__file__).resolve().parent.parent
LESSON = sorted((ROOT / "studies" / "lesson").glob("*.yaml"))


@pytest.mark.parametrize("path", LESSON, ids=[p.name for p in LESSON])
def test_every_lesson_study_validates_as_the_experiment_runs_it(path: Path) -> None:
    runner = CliRunner()
    plain = runner.invoke(app, ["validate", str(path)])
    assert plain.exit_code == 0, plain.output
    assert plain.output.startswith("ok: study lesson-")
    seeded = runner.invoke(app, ["validate", str(path), "--set", "name=x-s7", "--set", "seed=7"])
    assert seeded.exit_code == 0, seeded.output
    assert "ok: study x-s7 on digits" in seeded.output


def test_the_experiment_runs_every_lesson_study_and_nothing_else() -> None:
    assert sorted(a.file for a in ARMS) == [p.name for p in LESSON]


def _without(spec: Any, *names: str) -> dict[str, Any]:
    d = dataclasses.asdict(spec)
    d.pop("name")
    d["params"] = [p for p in d["params"] if p["name"] not in names]
    return d


@pytest.mark.parametrize(
    ("linear", "log", "name", "scale"),
    [
        ("claim1_lr_linear.yaml", "claim1_lr_log.yaml", "learning_rate", "log"),
        ("claim2_beta2_linear.yaml", "claim2_beta2_log1m.yaml", "beta_2", "log1m"),
    ],
)
def test_the_two_arms_of_a_scale_comparison_differ_only_in_the_scale(
    linear: str, log: str, name: str, scale: str
) -> None:
    a, b = (load_spec(ROOT / "studies" / "lesson" / f) for f in (linear, log))
    assert _without(a, name) == _without(b, name)
    (pa,) = [p for p in a.params if p.name == name]
    (pb,) = [p for p in b.params if p.name == name]
    assert isinstance(pa.domain, Range) and isinstance(pb.domain, Range)
    assert (pa.domain.low, pa.domain.high) == (pb.domain.low, pb.domain.high)
    assert (pa.domain.scale, pb.domain.scale) == ("linear", scale)


def test_tpe_hyperband_gets_no_more_trials_than_the_grid_has_cells() -> None:
    from automl.run.study import budget
    from automl.search.grid import grid_size

    grid = load_spec(ROOT / "studies" / "lesson" / "claim4_full_grid.yaml")
    smart = load_spec(ROOT / "studies" / "lesson" / "claim4_tpe_hyperband.yaml")
    assert grid_size(grid) == 36
    assert budget(smart) <= budget(grid) == 36
    assert (smart.epochs, smart.dataset, smart.metric) == (grid.epochs, grid.dataset, grid.metric)
    assert smart.pruner.name == "hyperband" and grid.pruner.name == "none"


# ---------------------------------------------------------------------------- pure analysis


def record(
    number: int, curve: list[float], state: str = "COMPLETE", reason: str | None = None, **hp: Any
) -> dict[str, Any]:
    """A trial as results.json stores it, as automl's objective leaves it in the storage."""
    attrs: dict[str, Any] = {"hyperparameters": hp, "epochs": len(curve)}
    if reason is not None:
        attrs["fail_reason"] = reason
    return {
        "number": number,
        "state": state,
        "value": curve[-1] if state == "COMPLETE" else None,
        "intermediate_values": {str(i + 1): v for i, v in enumerate(curve)},
        "user_attrs": attrs,
        "duration_s": 1.0,
    }


def trials(*records: dict[str, Any]) -> list[Any]:
    return [from_record(r) for r in records]


def test_decade_shares_count_each_decade_and_close_the_last() -> None:
    assert decade_shares([1e-4, 5e-4, 2e-3, 0.05, 0.1]) == [0.4, 0.2, 0.4]
    assert decade_shares([]) == [0.0, 0.0, 0.0]
    assert horizon(0.999) == pytest.approx(1000)
    assert horizon(0.9005) / horizon(0.9) == pytest.approx(1.005, rel=1e-3)


def test_compare_pairs_seeds_and_calls_gains_within_the_tie_no_difference() -> None:
    better = compare([0.98, 0.97, 0.96], [0.95, 0.96, 0.90])
    assert (better.wins, better.ties, better.losses, better.verdict) == (3, 0, 0, "agrees")
    worse = compare([0.90, 0.91, 0.963], [0.95, 0.96, 0.96])
    assert (worse.wins, worse.ties, worse.losses, worse.verdict) == (0, 1, 2, "disagrees")
    same = compare([0.951, 0.949, None], [0.950, 0.950, 0.99])
    assert (same.ties, same.verdict) == (2, "no difference")


def test_a_comparison_tests_its_gains_and_calls_only_a_steady_gain_significant() -> None:
    steady = compare([0.80, 0.82, 0.85], [0.70, 0.75, 0.74])
    assert steady.p_value is not None and steady.p_value < 0.05
    assert steady.show().endswith("(significant at 0.05)")
    noisy = compare([0.80, 0.70, 0.90], [0.70, 0.75, 0.84])
    assert noisy.verdict == "agrees" and noisy.p_value is not None and noisy.p_value > 0.3
    assert noisy.show().endswith("(not significant at 0.05)")
    assert compare([0.9], [0.8]).show().endswith("too few seeds for a test")
    same = compare([0.9, 0.8], [0.8, 0.7])  # one gain in every seed: nothing for a t-test
    assert same.show().endswith("the same gain in every seed, so no t-test")


def test_step_effects_average_each_beta_step_over_the_other_beta() -> None:
    values = {0.9: 0.95, 0.9005: 0.94, 0.999: 0.90, 0.9995: 0.80}
    made = [
        record(i, [values[b1] + (0.01 if b2 > 0.99 else 0.0)], beta_1=b1, beta_2=b2)
        for i, (b1, b2) in enumerate((b1, b2) for b1 in values for b2 in values)
    ]
    effects = step_effects(trials(*made), "beta_1", "beta_2")
    assert effects == pytest.approx({0.9: 0.01, 0.999: 0.10})
    # beta_2 adds the same 0.01 above 0.99 whatever beta_1 is: neither step moves it.
    assert step_effects(trials(*made), "beta_2", "beta_1") == pytest.approx({0.9: 0, 0.999: 0})
    # With beta_1 near 1, beta_2's negligible step (0.9 -> 0.9005) moves nothing: no noise.
    assert noise_near_one(trials(*made), "beta_1", "beta_2") == pytest.approx(0.0)


def test_the_step_near_one_must_beat_the_step_near_09_and_the_noise_near_one() -> None:
    assert pairs_verdict(0.01, 0.03, 0.01) == "agrees"
    assert pairs_verdict(0.01, 0.03, 0.028) == "no difference"
    assert pairs_verdict(0.03, 0.01, 0.0) == "disagrees"
    assert pairs_verdict(None, 0.03, 0.0) == "not measured"


def test_anytime_counts_every_trials_epochs_and_the_best_complete_value() -> None:
    made = trials(
        record(0, [0.5, 0.6]),
        record(1, [0.3], state="PRUNED"),
        record(2, [0.7, 0.9, 0.95]),
        record(3, [0.2], state="FAIL", reason="diverged: loss became nan at epoch 2"),
    )
    assert anytime(made) == [(2, 0.6), (3, 0.6), (6, 0.95), (7, 0.95)]
    assert epochs_to_reach(made, 0.9) == 6
    assert epochs_to_reach(made, 0.99) is None
    assert best_value(made) == 0.95


def test_a_trial_read_back_from_results_json_gives_the_report_the_same_bn_verdict() -> None:
    import optuna

    from tests.made_studies import add

    study = optuna.create_study(direction="maximize")
    add(study, [0.6, 0.9, 0.97], lr=0.01, bn=True)
    add(study, [0.3, 0.6, 0.95], lr=0.01, bn=False)
    add(study, [0.5, 0.85, 0.93], lr=0.3, bn=True)
    add(study, [0.1], lr=0.3, bn=False, state="FAIL", reason="diverged: loss became nan")
    original = study.get_trials()
    again = [from_record(to_record(t)) for t in original]
    a = batch_norm_analysis(original, "maximize", metric="val_accuracy")
    b = batch_norm_analysis(again, "maximize", metric="val_accuracy")
    assert a is not None and b is not None
    assert a == b
    assert b.with_bn.max_tolerated_lr == 0.3 and b.higher_lr == "agrees"


def test_a_data_set_counts_as_present_only_with_its_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    (tmp_path / "datasets" / "fashion-mnist").mkdir(parents=True)  # a failed download leaves this
    assert cached_keras_sets() == {"fashion_mnist": False, "cifar100": False}
    (tmp_path / "datasets" / "cifar-100-python.tar.gz").write_bytes(b"x")
    assert cached_keras_sets() == {"fashion_mnist": False, "cifar100": True}


# ---------------------------------------------------------------------------- the page


def _runs(gain: float) -> list[dict[str, Any]]:
    """Two seeds of every arm; the lesson's choice is better by `gain` where a claim has one."""
    out = []

    def run(claim: int, arm: str, seed: int, recs: list[dict[str, Any]]) -> None:
        out.append(
            {
                "claim": claim,
                "arm": arm,
                "seed": seed,
                "study": f"c{claim}-{arm}-s{seed}",
                "command": ["automl", "run"],
                "seconds": 10.0,
                "trials": recs,
            }
        )

    for seed in (0, 1):
        base = 0.9 + 0.01 * seed
        run(1, "linear", seed, [record(i, [base], learning_rate=0.02 + 0.02 * i) for i in range(4)])
        run(
            1,
            "log",
            seed,
            [record(i, [base + gain], learning_rate=10.0 ** (-4 + i)) for i in range(4)],
        )
        run(2, "linear", seed, [record(i, [base], beta_2=0.9 + 0.02 * i) for i in range(4)])
        run(
            2,
            "log1m",
            seed,
            [record(i, [base + gain], beta_2=1 - 10.0 ** (-1 - i)) for i in range(4)],
        )
        # The step near 1 moves the result when gain > 0, the step near 0.9 when gain < 0.
        steps = {0.9: 0.0, 0.9005: max(0.0, -gain), 0.999: 0.0, 0.9995: max(0.0, gain)}
        run(
            2,
            "pairs",
            seed,
            [
                record(i, [base + steps[b1] + steps[b2]], beta_1=b1, beta_2=b2)
                for i, (b1, b2) in enumerate((x, y) for x in steps for y in steps)
            ],
        )
        run(
            3,
            "grid",
            seed,
            [
                record(0, [0.5, 0.93, 0.97], learning_rate=0.01, batch_norm=True),
                record(1, [0.3, 0.6, 0.95], learning_rate=0.01, batch_norm=False),
                record(2, [0.6, 0.9, 0.95], learning_rate=1.0, batch_norm=True),
                record(3, [0.1, 0.1, 0.1], learning_rate=1.0, batch_norm=False),
            ],
        )
        grid = [
            record(i, [0.5, base], learning_rate=lr, beta_1=0.9, beta_2=0.999)
            for i, lr in enumerate((1e-3, 1e-2) * 4)
        ]
        run(4, "grid", seed, grid)
        smart = [record(0, [0.5, base + gain], learning_rate=0.01, beta_1=0.9, beta_2=0.999)]
        smart += [
            record(i, [0.4], state="PRUNED", learning_rate=1e-4, beta_1=0.9, beta_2=0.999)
            for i in range(1, 8)
        ]
        run(4, "tpe_hyperband", seed, smart)
    return out


def _render(tmp_path: Path, gain: float, **settings: Any) -> tuple[str, list[Any]]:
    results = {
        "settings": {
            "command": "python -m experiments.lesson",
            "commit": "0123abc",
            "dataset": "digits",
            "seeds": [0, 1],
            "sets": [],
            "date": "2026-11-27",
            "duration_s": 60.0,
            "machine": "test",
            "other_datasets": {"fashion_mnist": False, "cifar100": True},
            "steps_per_trial": 138,
            **settings,
        },
        "runs": _runs(gain),
    }
    page = tmp_path / "lesson-findings.md"
    claims = render(results, page, tmp_path / "lesson")
    return page.read_text(encoding="utf-8"), claims


def test_the_page_states_verdicts_computed_from_the_numbers(tmp_path: Path) -> None:
    text, claims = _render(tmp_path, gain=0.03)
    verdicts = {c.claim: c.verdict for c in claims}
    assert verdicts[1].startswith("agrees:")
    assert "best value agrees (log − linear +0.0300)" in verdicts[1]
    assert (
        "best value agrees" in verdicts[2]
        and "β1 agrees (2 of 2 seeds), β2 agrees (2 of 2 seeds)" in verdicts[2]
    )
    assert verdicts[3] == (
        "higher learning rates: agrees (2 of 2 seeds); faster convergence: agrees (2 of 2 seeds)"
    )
    assert verdicts[4].startswith("agrees: TPE + Hyperband trained 0.562 of the grid's epochs")
    for c in claims:
        assert f"| {c.claim}. {c.title} | {c.verdict} |" in text
        for plot in c.plots:
            assert (tmp_path / "lesson" / plot).stat().st_size > 10_000
            assert f"](lesson/{plot})" in text
    assert "Not measured here: fashion_mnist (" in text


def test_the_verdicts_turn_when_the_numbers_do(tmp_path: Path) -> None:
    _, claims = _render(tmp_path, gain=-0.03)
    verdicts = {c.claim: c.verdict for c in claims}
    assert verdicts[1].startswith("partly disagrees:")
    assert "best value disagrees" in verdicts[2] and "β1 disagrees (2 of 2 seeds)" in verdicts[2]
    assert verdicts[4].startswith("partly disagrees:")
    _, claims = _render(tmp_path, gain=0.001)
    assert {c.claim: c.verdict for c in claims}[1].startswith(
        "agrees on coverage, no difference in the result:"
    )


def test_the_page_quotes_the_report_summary_of_each_seed(tmp_path: Path) -> None:
    text, _ = _render(tmp_path, gain=0.03)
    grid = trials(*_runs(0.03)[5]["trials"])
    findings = batch_norm_analysis(grid, "maximize", metric="val_accuracy")
    assert findings is not None
    assert f"- seed 0: {findings.summary}" in text


def test_the_page_header_names_the_command_commit_date_and_machine(tmp_path: Path) -> None:
    text, _ = _render(tmp_path, gain=0.03, command="PYTHONPATH=. python -m experiments.lesson")
    assert "- Made by: `PYTHONPATH=. python -m experiments.lesson`\n" in text
    assert "- Code, date, machine: commit 0123abc; 2026-11-27; test.\n" in text


def test_a_record_from_before_commits_were_kept_still_renders(tmp_path: Path) -> None:
    old = {"command": "PYTHONPATH=. python -m experiments.lesson --keep k", "commit": None}
    text, claims = _render(tmp_path, gain=0.03, **old)
    assert len(claims) == 4
    assert "- Made by: `PYTHONPATH=. python -m experiments.lesson --keep k`\n" in text
    assert "- Code, date, machine: commit not recorded; 2026-11-27; test.\n" in text


def _git(folder: Path, *args: str) -> str:
    command = ["git", "-c", "user.name=t", "-c", "user.email=t@example.org", *args]
    return subprocess.run(command, cwd=folder, check=True, capture_output=True, text=True).stdout


def test_the_commit_recorded_is_head_with_changes_to_automl_marked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    repo, plain = tmp_path / "repo", tmp_path / "plain"
    (repo / "automl").mkdir(parents=True)
    plain.mkdir()
    (repo / "automl" / "x.py").write_text("x = 1\n")
    (repo / "README.md").write_text("readme\n")
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "first")
    head = _git(repo, "rev-parse", "--short=7", "HEAD").strip()
    assert len(head) == 7
    assert code_commit(repo) == head
    (repo / "README.md").write_text("changed\n")  # not automl's code
    assert code_commit(repo) == head
    (repo / "automl" / "x.py").write_text("x = 2\n")
    assert code_commit(repo) == f"{head}+changes"
    assert code_commit(plain) is None


def test_render_without_a_record_says_so_in_one_line(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "experiments.lesson", "--render", "--out", str(tmp_path)],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    missing = tmp_path / "lesson" / "results.json"
    assert done.stderr == f"error: no {missing} to render; run without --render first\n"
    assert not (tmp_path / "lesson-findings.md").exists()


def _lesson(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "experiments.lesson", *args],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
    )


def _record_file(path: Path, claims: list[int], command: str, **settings: Any) -> Path:
    record = {
        "settings": {
            "command": command,
            "commit": f"c{claims[0]}",
            "dataset": "digits",
            "seeds": [0, 1],
            "claims": claims,
            "sets": [],
            "date": "2026-11-27",
            "duration_s": 60.0 * len(claims),
            "machine": "test",
            "steps_per_trial": 138,
            **settings,
        },
        "runs": [r for r in _runs(0.03) if r["claim"] in claims],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record), encoding="utf-8")
    return path


def test_merge_joins_two_runs_claims_and_the_page_names_both(tmp_path: Path) -> None:
    page_record = _record_file(tmp_path / "lesson" / "results.json", [2, 3], "first")
    other = _record_file(tmp_path / "other.json", [1, 3, 4], "second")
    done = _lesson("--merge", str(other), "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    merged = json.loads(page_record.read_text(encoding="utf-8"))
    runs = {(r["claim"], r["arm"], r["seed"]) for r in merged["runs"]}
    assert runs == {(r["claim"], r["arm"], r["seed"]) for r in _runs(0.03)}  # claim 3 once
    assert [p["claims"] for p in merged["settings"]["parts"]] == [[2, 3], [1, 3, 4]]
    assert merged["settings"]["duration_s"] == 300.0
    text = (tmp_path / "lesson-findings.md").read_text(encoding="utf-8")
    assert "- Made in 2 runs:\n" in text
    made = "(commit c2; 2026-11-27; test; 2.0 minutes)"
    assert f"    - claims 2, 3, seeds 0, 1: `first` {made}\n" in text
    made = "(commit c1; 2026-11-27; test; 3.0 minutes)"
    assert f"    - claims 1, 3, 4, seeds 0, 1: `second` {made}\n" in text
    assert text.count("\n## ") == 5  # the four claims and Reproduce


def test_merge_adds_seeds_and_keeps_the_run_that_made_the_others(tmp_path: Path) -> None:
    page_record = _record_file(tmp_path / "lesson" / "results.json", [1, 2], "first")
    later = {**json.loads(page_record.read_text(encoding="utf-8")), "runs": []}
    for r in _runs(0.03):
        if r["claim"] == 1 and r["seed"] == 1:
            later["runs"].append({**r, "seed": 2})
    later["settings"] = {**later["settings"], "seeds": [2], "claims": [1], "command": "second"}
    other = tmp_path / "other.json"
    other.write_text(json.dumps(later), encoding="utf-8")
    assert _lesson("--merge", str(other), "--out", str(tmp_path)).returncode == 0
    merged = json.loads(page_record.read_text(encoding="utf-8"))
    assert merged["settings"]["seeds"] == [0, 1, 2]
    assert sorted({r["seed"] for r in merged["runs"] if r["claim"] == 1}) == [0, 1, 2]
    assert sorted({r["seed"] for r in merged["runs"] if r["claim"] == 2}) == [0, 1]
    assert [p["command"] for p in merged["settings"]["parts"]] == ["first", "second"]


def test_merge_refuses_a_run_with_other_overrides_and_changes_nothing(tmp_path: Path) -> None:
    page_record = _record_file(tmp_path / "lesson" / "results.json", [2], "first")
    before = page_record.read_text(encoding="utf-8")
    other = _record_file(tmp_path / "other.json", [1], "second", sets=["epochs=2"])
    done = _lesson("--merge", str(other), "--out", str(tmp_path))
    assert done.returncode == 2
    assert done.stdout.strip() == f"error: --merge: {other} differs from {page_record} in sets"
    assert page_record.read_text(encoding="utf-8") == before


def test_the_digits_page_sets_each_claims_verdict_beside_the_other_data_sets(
    tmp_path: Path,
) -> None:
    _record_file(tmp_path / "lesson" / "results.json", [1, 2, 3, 4], "digits run")
    other = tmp_path / "lesson" / "distorted_digits" / "results.json"
    _record_file(other, [1], "distorted run", dataset="distorted_digits", sets=["dataset.x=1"])
    done = _lesson("--render", "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    text = (tmp_path / "lesson-findings.md").read_text(encoding="utf-8")
    section = text[text.index("## On a larger workload") : text.index("## Reproduce")]
    page = "[distorted_digits](lesson-findings-distorted_digits.md)"
    assert f"- {page}: claim 1, seeds 0, 1; dataset.x=1;" in section
    assert "| claim | digits | distorted_digits |" in section
    rows = [line for line in section.splitlines() if line.startswith("| 1. ")]
    (row,) = rows  # one verdict from each record, both computed from its runs
    assert row.count("agrees: linear put") == 2
    assert "| 2. β near 1" in section and section.count("| not measured |") == 3
    assert not list((tmp_path / "lesson" / "distorted_digits").glob("*.png"))  # its page's


def test_a_merged_records_claims_are_listed_with_the_seeds_each_ran() -> None:
    parts = [
        {"claims": [2], "seeds": [0, 1, 2]},
        {"claims": [1, 3, 4], "seeds": [0, 1, 2, 3]},
        {"claims": [3], "seeds": [4]},
    ]
    settings = {"seeds": [0, 1, 2, 3, 4], "parts": parts}
    assert claims_and_seeds(settings) == (
        "claims 1, 4, seeds 0, 1, 2, 3; claim 2, seeds 0, 1, 2; claim 3, seeds 0, 1, 2, 3, 4"
    )
    assert claims_and_seeds({"seeds": [5], "claims": [1, 2]}) == "claims 1, 2, seed 5"


# ---------------------------------------------------------------------------- for real


@pytest.mark.slow
def test_the_experiment_and_automl_report_agree_on_a_real_bn_study(tmp_path: Path) -> None:
    """Claim 3, one seed, two learning rates and two epochs: about 30 s on 2 cores."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    keep, out = tmp_path / "keep", tmp_path / "docs"
    experiment = [sys.executable, "-m", "experiments.lesson"]
    args = ["--claims", "3", "--seeds", "0", "--set", "epochs=2"]
    args += ["--set", "params.learning_rate=1e-3..1:log:num=2", "--out", str(out)]
    done = subprocess.run(
        [*experiment, *args, "--keep", str(keep)], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "claim 3: higher learning rates:" in done.stdout
    page = (out / "lesson-findings.md").read_text(encoding="utf-8")
    report = subprocess.run(
        [sys.executable, "-m", "automl", "report", "lesson-bn-lr-grid-s0"]
        + ["--storage", str(keep / "lesson.journal"), "--out", str(tmp_path / "report")]
        + ["--tracking-uri", f"sqlite:///{keep / 'mlflow.db'}"],
        env=env,
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert report.returncode == 0, report.stderr
    (summary,) = [line for line in report.stdout.splitlines() if line.startswith("This study ")]
    assert f"- seed 0: {summary}" in page
    assert (out / "lesson" / "claim3-learning-rates.png").is_file()
    record = json.loads((out / "lesson" / "results.json").read_text())
    assert [r["study"] for r in record["runs"]] == ["lesson-bn-lr-grid-s0"]
    assert record["settings"]["commit"].startswith(code_commit(ROOT) or "no commit")
    assert record["settings"]["command"].startswith("PYTHONPATH=. python -m experiments.lesson ")
