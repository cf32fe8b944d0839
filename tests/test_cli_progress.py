"""`automl run`'s live view at 80 columns and in a log: a bar that fits the terminal, plain
unwrapped lines anywhere else, and only the trials that finish during this run."""

from __future__ import annotations

import io
import re
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from optuna.distributions import FloatDistribution
from optuna.trial import FrozenTrial, TrialState, create_trial
from rich.console import Console

from automl.cli.progress import Progress
from automl.run.study import open_study
from automl.spec.reading import load_spec
from automl.spec.rules import parse
from tests.processes import environment, finish, start_run, trials

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
LR = FloatDistribution(1e-4, 1e-1, log=True)
REASON = (
    "diverged: loss 1.3e11 at epoch 1, started at 2.303 (more than diverge_factor 100 times that)"
)


def trial(number: int, state: TrialState, value: float | None = None) -> FrozenTrial:
    made = create_trial(
        state=state,
        value=value,
        params={"learning_rate": 0.001 * (number + 1)},
        distributions={"learning_rate": LR},
        user_attrs={"epochs": 2, **({"fail_reason": REASON} if state == TrialState.FAIL else {})},
        intermediate_values={1: 0.5, 2: value or 0.6} if state != TrialState.FAIL else {},
    )
    made.number = number
    return made


def study_lines(console: Console, out: io.StringIO, name: str) -> list[str]:
    spec = parse({"name": name, "params": {"learning_rate": {"low": 1e-4, "high": 0.1}}})
    before = [trial(0, TrialState.COMPLETE, 0.91), trial(1, TrialState.PRUNED)]
    progress = Progress(console)
    progress.start(spec, 6)
    progress.update(before)  # finished before this run: not printed again
    now = [*before, trial(2, TrialState.FAIL), trial(3, TrialState.COMPLETE, 0.97)]
    progress.update([*now, trial(4, TrialState.RUNNING)])
    progress.update([*now, trial(4, TrialState.RUNNING)])  # printed once
    progress.stop()
    text = ANSI.sub("", out.getvalue()).replace("\r", "\n")
    return [line for line in text.split("\n") if line.strip()]


@pytest.mark.parametrize(
    "name", ["digits-quick", "a-study-name-far-longer-than-a-quarter-of-the-screen", "x", "[b]s"]
)
def test_at_80_columns_the_bar_keeps_its_counts_and_best_value(name: str) -> None:
    out = io.StringIO()
    console = Console(file=out, width=80, force_terminal=True, color_system=None)
    lines = study_lines(console, out, name)
    assert all(len(line) <= 80 for line in lines), lines
    trial_lines = [line for line in lines if line.startswith("trial ")]
    assert [line.split()[1] for line in trial_lines if "trial" in line[:6]][:2] == ["2", "3"]
    bar = [line for line in lines if "4/6" in line][-1]
    assert name[:6] in bar and "━" in bar
    assert "2 ok 1 pruned 1 failed" in bar  # all the study's trials, counted
    assert bar.endswith("best 0.9700 (#3)") or "best 0.9700 (#3) " in bar


@pytest.mark.parametrize("width", [120, 200])
def test_a_wide_terminal_shows_what_is_running_and_the_time_taken(width: int) -> None:
    out = io.StringIO()
    console = Console(file=out, width=width, force_terminal=True, color_system=None)
    bar = [line for line in study_lines(console, out, "digits-quick") if "4/6" in line][-1]
    assert bar.endswith("4/6 2 ok 1 pruned 1 failed 1 running best 0.9700 (#3) 0:00:00")
    assert len(bar.split(" 4/6")[0]) == len("digits-quick ") + 40  # the bar at its widest


@pytest.mark.parametrize("width", [80, 40, 200])
def test_in_a_log_there_is_no_bar_and_each_trial_is_one_unwrapped_line(width: int) -> None:
    out = io.StringIO()  # not a terminal, as a pipe or a file is
    console = Console(file=out, width=width)
    assert not console.is_terminal
    lines = out.getvalue(), study_lines(console, out, "digits-quick")
    text, printed = out.getvalue(), lines[1]
    assert "\x1b" not in text and "━" not in text  # no bar, no cursor moves
    assert len(printed) == 2 == len(text.splitlines())
    fail, complete = printed
    assert fail.startswith("trial   2 FAIL") and fail.endswith(f"{REASON}  learning_rate=0.003")
    assert complete.startswith("trial   3 COMPLETE val_accuracy 0.9700 after 2 epochs")


def test_a_trial_line_with_brackets_is_printed_as_it_is() -> None:
    out = io.StringIO()
    console = Console(file=out, width=80, force_terminal=True, color_system=None)
    spec = parse({"name": "s"})
    progress = Progress(console)
    progress.start(spec, 2)
    progress.update([])
    failed = trial(0, TrialState.FAIL)
    failed.set_user_attr("fail_reason", "training failed: [bold]shape (None, 3)[/bold]")
    progress.update([failed])
    progress.stop()
    assert "[bold]shape (None, 3)[/bold]" in ANSI.sub("", out.getvalue())


def test_the_view_reads_a_real_study() -> None:
    study = optuna.create_study()
    study.add_trial(trial(0, TrialState.COMPLETE, 0.5))
    out = io.StringIO()
    progress = Progress(Console(file=out, width=80))
    progress.start(parse({"name": "s", "direction": "minimize"}), 3)
    progress.update(study.get_trials())
    study.add_trial(trial(1, TrialState.COMPLETE, 0.4))
    progress.update(study.get_trials())
    progress.stop()
    assert out.getvalue().splitlines() == ["trial   1 COMPLETE val_accuracy 0.4000 after 2 epochs"]


DIVERGING = """\
name: {name}
epochs: 1
trials: 2
seed: 0
sampler: {{name: random, seed: 0}}
pruner: none
params:
  optimizer: [sgd, adam]
  learning_rate: {{low: 1e-3, high: 1e5, log: true}}
  width: 8
  depth: 1
"""


@pytest.mark.slow
def test_a_finished_study_says_so_without_tensorflow_and_prints_no_old_trial(
    tmp_path: Path,
) -> None:
    from mlflow import MlflowClient

    spec_path = tmp_path / "rerun.yaml"
    spec_path.write_text(DIVERGING.format(name="rerun"))
    storage = str(tmp_path / "automl.journal")
    study = open_study(load_spec(spec_path), storage)
    study.enqueue_trial({"optimizer": "sgd", "learning_rate": 1e5})  # explodes, stays finite
    study.enqueue_trial({"optimizer": "adam", "learning_rate": 0.01})
    code, first = finish(start_run(tmp_path, spec_path))
    assert code == 0, first
    reason = "failed: diverged: loss "
    assert [line[:15] for line in first.splitlines() if line.startswith("trial ")] == [
        "trial   0 FAIL ",
        "trial   1 COMPL",
    ], first
    assert reason in first and "started at 2.303" in first
    assert "Creating initial MLflow database tables" not in first and "INFO" not in first
    assert "Successfully registered model" not in first
    (failed, completed) = trials(storage, "rerun")
    assert failed.state.name == "FAIL" and completed.state.name == "COMPLETE"
    assert failed.user_attrs["fail_reason"].startswith("diverged: loss ")
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    run = client.get_run(failed.user_attrs["mlflow_run_id"])
    assert run.info.status == "FAILED"
    assert run.data.tags["automl.fail_reason"] == failed.user_attrs["fail_reason"]

    for options in ((), ("--trials", "2"), ("--workers", "2")):
        code, again = finish(
            start_run(tmp_path, spec_path, *options, env={"PYTHONPROFILEIMPORTTIME": "1"})
        )
        imported = {line.split("|")[-1].strip() for line in again.splitlines() if "|" in line}
        said = [line for line in again.splitlines() if not line.startswith("import time:")]
        assert code == 0, said
        assert not {"tensorflow", "keras", "mlflow"} & imported  # read from the storage alone
        assert said[:3] == [
            "study rerun is finished: nothing to run (--trials N raises its budget)",
            "study rerun: 1 complete, 1 fail (budget 2)",
            f"best trial 1: val_accuracy {completed.value:.4f}",
        ], said
        assert not [line for line in said if line.startswith("trial ")]
    assert trials(storage, "rerun") == [failed, completed]  # nothing stored changed
    exported = subprocess.run(
        [sys.executable, "-m", "automl", "export", "rerun", "--out", "best.keras"],
        cwd=tmp_path, env=environment(tmp_path), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert exported.returncode == 0, exported.stderr
    assert (tmp_path / "best.keras").is_file()
    assert "Downloading artifacts" not in exported.stdout + exported.stderr  # MLflow's bar
    # A larger budget runs again and prints only its own trial.
    code, more = finish(start_run(tmp_path, spec_path, "--trials", "3"))
    assert code == 0 and [line[:9] for line in more.splitlines() if line[:6] == "trial "] == [
        "trial   2"
    ], more
