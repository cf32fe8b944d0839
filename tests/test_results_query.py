"""`automl studies` and `automl best`: what they print must be what the storage holds."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest
from typer.testing import CliRunner

from automl.cli.app import app
from automl.results.query import best_report, list_studies
from automl.run.storage import open_storage
from tests.made_studies import add, bn_study

runner = CliRunner()


@pytest.fixture(params=["journal", "sqlite"])
def storage_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "journal":
        return str(tmp_path / "studies.journal")
    return f"sqlite:///{tmp_path / 'studies.db'}"


def test_studies_counts_trials_by_state_and_finds_the_best(storage_url: str) -> None:
    storage = open_storage(storage_url)
    study = bn_study(storage)
    optuna.create_study(study_name="empty", storage=storage)
    loss = optuna.create_study(study_name="loss", storage=storage, direction="minimize")
    add(loss, [0.9, 0.4])
    add(loss, [0.8, 0.3])
    add(loss, [0.9, 0.7], state="PRUNED")

    rows = {s.name: s for s in list_studies(storage_url)}

    assert set(rows) == {"bn", "empty", "loss"}
    assert rows["bn"].states == {"COMPLETE": 5, "FAIL": 1, "PRUNED": 1}
    assert rows["bn"].best_value == pytest.approx(0.98)
    assert rows["bn"].best_number == study.best_trial.number == 0
    last = max(t.datetime_complete for t in study.get_trials() if t.datetime_complete)
    assert rows["bn"].last_activity == last
    assert rows["loss"].direction == "minimize"
    assert rows["loss"].best_value == pytest.approx(0.3)
    assert rows["loss"].best_number == 1
    assert rows["empty"].states == {} and rows["empty"].best_value is None

    result = runner.invoke(app, ["studies", "--storage", storage_url])
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line for line in result.stdout.splitlines()[1:]}
    assert "5 complete, 1 fail, 1 pruned" in lines["bn"]
    assert "0.9800 (#0)" in lines["bn"]
    assert "0.3000 (#1)" in lines["loss"]


def test_best_json_matches_the_storage(storage_url: str) -> None:
    storage = open_storage(storage_url)
    study = bn_study(storage)
    study.set_user_attr("automl.test", {"trial": 0, "test_accuracy": 0.961, "test_loss": 0.12})

    result = runner.invoke(app, ["best", "bn", "--storage", storage_url, "--top", "3", "--json"])

    assert result.exit_code == 0, result.output
    got = json.loads(result.stdout)
    stored = optuna.load_study(study_name="bn", storage=open_storage(storage_url)).best_trial
    assert got["number"] == stored.number
    assert got["value"] == stored.value
    assert got["seed"] == stored.user_attrs["seed"]
    assert got["mlflow_run_id"] == stored.user_attrs["mlflow_run_id"]
    assert got["hyperparameters"] == stored.user_attrs["hyperparameters"]
    # β is shown as β, not as the Optuna param 1 - β.
    assert got["hyperparameters"]["beta_2"] == pytest.approx(0.999)
    assert stored.params["one_minus_beta_2"] == pytest.approx(0.001)
    assert got["test_accuracy"] == 0.961
    complete = sorted(
        (t for t in study.get_trials() if t.state.name == "COMPLETE"), key=lambda t: -t.value
    )
    assert [row["number"] for row in got["top"]] == [t.number for t in complete[:3]]
    assert [row["value"] for row in got["top"]] == [t.value for t in complete[:3]]


def test_minimize_study_ranks_the_lowest_first(tmp_path: Path) -> None:
    url = str(tmp_path / "s.journal")
    study = optuna.create_study(study_name="loss", storage=open_storage(url), direction="minimize")
    for curve in ([0.5, 0.4], [0.6, 0.2], [0.7, 0.3]):
        add(study, curve)

    report = best_report(url, "loss", top=5)

    assert report.best.number == 1 == study.best_trial.number
    assert [r.number for r in report.top] == [1, 2, 0]


def test_unknown_study_lists_those_that_exist(tmp_path: Path) -> None:
    url = str(tmp_path / "s.journal")
    storage = open_storage(url)
    optuna.create_study(study_name="alpha", storage=storage)
    optuna.create_study(study_name="beta", storage=storage)

    for command in (
        ["best", "gamma"],
        ["report", "gamma"],
        ["export", "gamma", "--out", "m.keras"],
    ):
        result = runner.invoke(app, [*command, "--storage", url])
        assert result.exit_code == 2, result.output
        assert "no study named 'gamma'" in result.stderr
        assert "studies there: alpha, beta" in result.stderr
        assert "Traceback" not in result.output


def test_study_without_a_complete_trial_says_so(tmp_path: Path) -> None:
    url = str(tmp_path / "s.journal")
    study = optuna.create_study(study_name="young", storage=open_storage(url))
    add(study, [0.1, 0.2], state="PRUNED")
    add(study, [0.1], state="FAIL", reason="diverged: loss became nan at epoch 2")

    for command in (["best", "young"], ["report", "young"]):
        result = runner.invoke(app, [*command, "--storage", url])
        assert result.exit_code == 2, result.output
        assert "study young has no complete trial yet (1 fail, 1 pruned)" in result.stderr
        assert "Traceback" not in result.output


def test_missing_storage_is_a_user_error_and_is_not_created(tmp_path: Path) -> None:
    url = str(tmp_path / "nowhere.journal")
    for command in (["studies"], ["best", "x"]):
        result = runner.invoke(app, [*command, "--storage", url])
        assert result.exit_code == 2
        assert "no such journal file" in result.stderr
    assert not (tmp_path / "nowhere.journal").exists()
    result = runner.invoke(app, ["studies", "--storage", f"sqlite:///{tmp_path / 'no.db'}"])
    assert result.exit_code == 2
    assert "no such SQLite file" in result.stderr
    assert not (tmp_path / "no.db").exists()


def test_empty_storage_lists_no_studies(tmp_path: Path) -> None:
    url = str(tmp_path / "s.journal")
    open_storage(url)  # creates the file, with no study in it
    result = runner.invoke(app, ["studies", "--storage", url])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"no studies in {url}"
