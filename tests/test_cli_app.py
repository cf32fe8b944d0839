"""The command line end to end: validate, run, resume, MLflow read back, bad files refused."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from typer.testing import CliRunner

from automl.cli.app import app
from tests.conftest import write

runner = CliRunner()

TINY = """\
name: tiny
epochs: 2
trials: 2
seed: 3
sampler: {name: random, seed: 3}
pruner: none
params:
  learning_rate: {low: 1e-3, high: 1e-2, log: true}
  beta_2: {low: 0.99, high: 0.9995, scale: log1m}
  width: 4
  depth: 1
"""


def test_validate_prints_the_space_and_grid_size(workdir: Path) -> None:
    path = write(
        workdir / "g.yaml",
        "name: g\nsampler: grid\nparams:\n"
        "  learning_rate: {low: 1e-4, high: 1e-1, log: true, num: 4}\n"
        "  batch_norm: [true, false]\n",
    )
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 0, result.output
    assert "learning_rate: grid 0.0001, 0.001, 0.01, 0.1" in result.output
    assert "grid size: 8" in result.output
    assert not (workdir / "automl.journal").exists()


def test_a_bad_file_gives_one_line_per_problem_exit_2_and_creates_nothing(workdir: Path) -> None:
    path = write(
        workdir / "bad.yaml", "name: bad\nepochs: 0\nparams:\n  l2: {low: 0, high: 1, log: true}\n"
    )
    for command in (["validate", str(path)], ["run", str(path)]):
        result = runner.invoke(app, command)
        assert result.exit_code == 2
        lines = result.output.strip().splitlines()
        assert lines == [
            f"error: {path}: epochs: must be an integer >= 1, got 0",
            f"error: {path}: params.l2.low: must be > 0 when log is true, got 0",
        ]
        assert "Traceback" not in result.output
    assert sorted(p.name for p in workdir.iterdir()) == ["bad.yaml"]


@pytest.mark.parametrize(
    ("storage", "expected"),
    [
        ("/nonexistent/dir/x.journal", "folder /nonexistent/dir does not exist"),
        ("postgresql://nobody@127.0.0.1:1/x", "cannot open it: (psycopg.OperationalError)"),
    ],
)
def test_a_bad_storage_is_one_line_and_exit_2(workdir: Path, storage: str, expected: str) -> None:
    path = write(workdir / "s.yaml", TINY)
    result = runner.invoke(app, ["run", str(path), "--storage", storage])
    assert result.exit_code == 2
    (line,) = result.output.strip().splitlines()
    assert line.startswith(f"error: storage {storage}: ") and expected in line


def test_help_and_validate_do_not_import_tensorflow(workdir: Path) -> None:
    path = write(workdir / "s.yaml", TINY)
    code = (
        "import sys\nfrom automl.cli.app import main\n"
        f"sys.argv=['automl','validate',{str(path)!r}]\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "heavy=[m for m in ('tensorflow','keras','mlflow') if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "HEAVY []" in out.stdout
    help_out = subprocess.run(
        [sys.executable, "-m", "automl", "--help"], capture_output=True, text=True, check=True
    )
    assert "run" in help_out.stdout and "validate" in help_out.stdout


@pytest.mark.slow
def test_run_tracks_every_trial_and_resumes_to_the_budget(workdir: Path) -> None:
    from mlflow import MlflowClient

    path = write(workdir / "tiny.yaml", TINY)
    result = runner.invoke(app, ["run", str(path)])
    assert result.exit_code == 0, result.output
    assert "study tiny: 2 complete (budget 2)" in result.output
    assert "best trial" in result.output and "beta_2=0.99" in result.output

    study = optuna.load_study(study_name="tiny", storage=_journal(workdir))
    trials = study.get_trials()
    assert [t.state.name for t in trials] == ["COMPLETE", "COMPLETE"]
    for t in trials:
        beta_2 = t.user_attrs["hyperparameters"]["beta_2"]
        assert 0.99 <= beta_2 <= 0.9995 and "one_minus_beta_2" in t.params
        assert sorted(t.intermediate_values) == [1, 2]

    client = MlflowClient(f"sqlite:///{workdir / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("tiny")
    runs = client.search_runs([experiment.experiment_id])
    parent = next(r for r in runs if r.data.tags.get("automl.role") == "study")
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert len(children) == 2
    for run in children:
        trial = trials[int(run.data.tags["automl.trial_number"])]
        assert trial.user_attrs["mlflow_run_id"] == run.info.run_id
        assert run.info.status == "FINISHED" and run.data.tags["automl.state"] == "COMPLETE"
        assert run.data.tags["automl.study"] == "tiny"
        assert float(run.data.params["beta_2"]) == pytest.approx(
            trial.user_attrs["hyperparameters"]["beta_2"]
        )
        curve = client.get_metric_history(run.info.run_id, "val_accuracy")
        assert [m.step for m in curve] == [1, 2]
        # The trial is worth its best epoch, which need not be the last.
        best = max(curve, key=lambda m: m.value)
        assert best.value == pytest.approx(trial.value)
        assert best.step == trial.user_attrs["best_epoch"]
        for key in ("loss", "accuracy", "val_loss"):
            assert len(client.get_metric_history(run.info.run_id, key)) == 2

    again = runner.invoke(app, ["run", str(path), "--trials", "3"])
    assert again.exit_code == 0, again.output
    assert len(study.get_trials()) == 3
    same = runner.invoke(app, ["run", str(path), "--trials", "3"])
    assert same.exit_code == 0 and len(study.get_trials()) == 3


def _journal(folder: Path) -> optuna.storages.BaseStorage:
    from automl.run.storage import open_storage

    return open_storage(str(folder / "automl.journal"), must_exist=True)
