"""What `automl best` prints."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from automl.cli.app import app
from automl.run.storage import open_storage
from tests.made_studies import bn_study

runner = CliRunner()


def test_best_prints_the_trial_and_a_top_table(tmp_path: Path) -> None:
    url = str(tmp_path / "s.journal")
    bn_study(open_storage(url))

    result = runner.invoke(app, ["best", "bn", "--storage", url, "--top", "2"])

    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "best trial 0" in out and "0.98" in out
    assert "beta_2 = 0.999" in out and "one_minus" not in out
    assert "seed 1000" in out
    assert f"MLflow run {0:032x}" in out
    table = out.split("top 2 of 5 complete trials:")[1].splitlines()[1:]
    assert table[0].split()[0] == "#"
    assert [row.split()[0] for row in table[1:]] == ["0", "1"]
