"""URIs are read by one set of rules and shown without their passwords, by every command."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from automl.uris import local_file, mask, missing_sqlite_store, redact, sqlite_path, storage_label
from tests.processes import environment, study_file
from tests.ui_servers import free_port


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://me:s3cret@db:5432/x", "postgresql://me:***@db:5432/x"),
        ("postgresql+psycopg://me:s3cret@db/x", "postgresql+psycopg://me:***@db/x"),
        ("postgresql://me:p@ss@db/x", "postgresql://me:***@db/x"),  # an @ in the password
        ("postgresql://me:s3/cret@db/x", "postgresql://me:***@db/x"),  # a / (SQLAlchemy's)
        ("postgresql://me:s3cret@[::1/x", "postgresql://me:***@[::1/x"),  # urllib refuses it
        ("http://me:s3cret@127.0.0.1:5000", "http://me:***@127.0.0.1:5000"),
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


@pytest.mark.parametrize(
    ("text", "url", "shown"),
    [
        ("host 'retPW@db' unknown", "postgresql://me:S3c@retPW@db/x", "host '***@db' unknown"),
        ("bad password S3cret", "postgresql://me@db/x?password=S3cret", "bad password ***"),
        ("for p@ss%40", "postgresql://me:p@ss%40@db/x", "for ***"),
        ("no password here", "postgresql://me@db/x", "no password here"),
    ],
)
def test_a_drivers_message_is_shown_without_the_password(text: str, url: str, shown: str) -> None:
    assert redact(text, url) == shown
    assert mask("postgresql://me:S3c%40ret@db/x") == "postgresql://me:***@db/x"


# A password in each form a URL can hold it; no server listens on {port}.
SECRET_URLS = [
    "postgresql://automl:S3cretPW@127.0.0.1:{port}/optuna",
    "postgresql://automl@127.0.0.1:{port}/optuna?password=S3cretPW&sslmode=disable",
    "postgresql+psycopg://automl:S3c@retPW@127.0.0.1:{port}/optuna",
]
COMMANDS = [
    ["run", "{spec}", "--storage", "{url}"],
    ["run", "{spec}", "--tracking-uri", "{url}"],
    ["studies", "--storage", "{url}"],
    ["best", "pw", "--storage", "{url}"],
    ["report", "pw", "--storage", "{url}"],
    ["dashboard", "--storage", "{url}", "--port", "{free}"],
    ["mlflow-ui", "--tracking-uri", "{url}", "--port", "{free}"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_no_command_shows_a_password(tmp_path: Path, command: list[str]) -> None:
    spec = study_file(tmp_path, "pw")
    for url in SECRET_URLS:
        values = {"spec": spec, "free": free_port()}
        url = url.format(port=free_port())
        args = [a.format(url=url, **values) for a in command]
        out = subprocess.run(
            [sys.executable, "-m", "automl", *args],
            cwd=tmp_path, env=environment(tmp_path), capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        shown = out.stdout + out.stderr
        assert out.returncode == 2, shown
        assert len(shown.splitlines()) == 1 and shown.startswith("error: "), shown
        assert "S3c" not in shown and "retPW" not in shown, shown
        assert mask(url) in shown, shown  # the URL named, its password as ***
