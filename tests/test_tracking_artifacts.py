"""Optuna's artifact folder, found from the storage string the same way by `automl run`
and `automl dashboard`."""

from __future__ import annotations

from pathlib import Path

import pytest

from automl.tracking.artifacts import artifact_dir


def test_the_artifact_folder_follows_the_storage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AUTOML_ARTIFACTS", raising=False)
    expected = tmp_path / "runs" / "automl-artifacts"
    assert artifact_dir(str(tmp_path / "runs" / "x.journal")) == expected
    assert artifact_dir(f"sqlite:///{tmp_path}/runs/o.db?timeout=9") == expected
    assert artifact_dir("automl.journal") == tmp_path / "automl-artifacts"
    assert artifact_dir("postgresql://u@db/x") == tmp_path / "automl-artifacts"
    monkeypatch.setenv("AUTOML_ARTIFACTS", str(tmp_path / "shared"))
    assert artifact_dir("postgresql://u@db/x") == tmp_path / "shared"
