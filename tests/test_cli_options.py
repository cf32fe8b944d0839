"""The commands' help pages read as prose: flags without a type, arguments by their metavar."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from automl.cli.app import app

COMMANDS = [
    [], ["run"], ["validate"], ["new"], ["studies"], ["best"], ["report"], ["export"],
    ["dashboard"], ["mlflow-ui"],
]  # fmt: skip


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "automl")
def test_help_shows_no_bool_types_nor_placeholders(command: list[str]) -> None:
    result = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    assert "<bool>" not in result.output
    assert "{" not in result.output and "}" not in result.output
    usage = next(line for line in result.output.splitlines() if "Usage:" in line)
    assert usage.split()[-1] in ("[ARGS]...", "[OPTIONS]", "STUDY_FILE", "STUDY", "NAME")


def test_a_missing_argument_is_named_by_its_metavar() -> None:
    result = CliRunner().invoke(app, ["run"])
    assert result.exit_code == 2
    assert "Missing argument 'STUDY_FILE'" in result.output
