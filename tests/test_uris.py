"""URIs are read by one set of rules and shown without their passwords."""

from __future__ import annotations

from pathlib import Path

import pytest

from automl.uris import local_file, mask, missing_sqlite_store, sqlite_path, storage_label


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://me:s3cret@db:5432/x", "postgresql://me:***@db:5432/x"),
        ("postgresql+psycopg://me:s3cret@db/x", "postgresql+psycopg://me:***@db/x"),
        ("postgresql://me:p@ss@db/x", "postgresql://me:***@db/x"),  # an @ in the password
        (
            "postgresql://me@db/x?password=s3cret&sslmode=require",
            "postgresql://me@db/x?password=***&sslmode=require",
        ),
        ("postgresql://me@db/x", "postgresql://me@db/x"),
        ("sqlite:///folder/optuna.db?timeout=5", "sqlite:///folder/optuna.db?timeout=5"),
        ("http://127.0.0.1:5000", "http://127.0.0.1:5000"),
    ],
)
def test_a_password_is_never_shown(url: str, shown: str) -> None:
    assert mask(url) == shown
    assert "s3cret" not in storage_label(url) and "p@ss" not in storage_label(url)


def test_a_sqlite_url_names_its_file_without_the_query(tmp_path: Path) -> None:
    assert sqlite_path(f"sqlite:///{tmp_path}/m.db?timeout=5") == tmp_path / "m.db"
    assert local_file(f"sqlite:///{tmp_path}/o.db?timeout=5") == tmp_path / "o.db"
    assert sqlite_path("sqlite:///:memory:") is None and local_file("postgresql://h/x") is None
    assert local_file("automl.journal") == Path("automl.journal")
    assert missing_sqlite_store(f"sqlite:///{tmp_path}/none.db?timeout=5")
    (tmp_path / "here.db").touch()
    assert not missing_sqlite_store(f"sqlite:///{tmp_path}/here.db?timeout=5")
    assert not missing_sqlite_store("http://127.0.0.1:5000")
