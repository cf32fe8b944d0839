"""A tracking store that is unknown or does not answer stops `automl run` within seconds, in
one line, before a study exists: real sockets and servers on loopback, a real `automl run`."""

from __future__ import annotations

import http.server
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import optuna
import pytest
from optuna.storages.journal import JournalFileBackend, JournalStorage

from automl.errors import AutomlError
from automl.tracking.probe import PROBE_SECONDS, check_tracking_store
from automl.uris import mask
from tests.processes import environment, study_file
from tests.ui_servers import free_port

UNREACHABLE = "cannot be reached"
ACCEPTS = "automl accepts http(s)://HOST:PORT (an MLflow server), sqlite:///FILE, or a database"


@contextmanager
def silent_server() -> Iterator[int]:
    """A port that accepts connections and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield sock.getsockname()[1]


@contextmanager
def http_server(status: int, seen: list[str] | None = None) -> Iterator[int]:
    """An HTTP server that answers every GET with `status`; `seen` gets each request's path
    and Authorization header."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the standard library's name
            if seen is not None:
                seen.append(f"{self.path} {self.headers.get('Authorization')}")
            self.send_response(status)
            self.end_headers()
            self.wfile.write(b"OK")

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


# (tracking URI with {port} of a closed port, {silent} of a silent one, {tmp}; the line)
CASES = [
    ("http://127.0.0.1:{port}", f"{UNREACHABLE}: [Errno 111] Connection refused"),
    ("https://127.0.0.1:{port}/", f"{UNREACHABLE}: [Errno 111] Connection refused"),
    ("http://127.0.0.1:{silent}", f"{UNREACHABLE}: no answer within {PROBE_SECONDS} s"),
    ("postgresql://me@127.0.0.1:{port}/x", f"{UNREACHABLE}: (psycopg.OperationalError)"),
    ("postgresql+psycopg://me@127.0.0.1:{silent}/x", "connection timeout expired"),
    ("http://me:S3cret@127.0.0.1:{port}", f"{UNREACHABLE}: [Errno 111] Connection refused"),
    ("http://127.0.0.1:notaport", f"{UNREACHABLE}: nonnumeric port: 'notaport'"),
    ("https://[::1", f"{UNREACHABLE}: Invalid IPv6 URL"),
    ("foo://x", ACCEPTS),
    ("{tmp}", ACCEPTS),
    ("file://{tmp}", ACCEPTS),
]


def test_a_store_that_answers_passes(tmp_path: Path) -> None:
    with http_server(200) as port:
        check_tracking_store(f"http://127.0.0.1:{port}")
    check_tracking_store(f"sqlite:///{tmp_path}/mlflow.db")
    check_tracking_store(None)
    assert list(tmp_path.iterdir()) == []  # a probe creates nothing


def test_a_password_in_a_server_uri_is_sent_as_basic_authentication() -> None:
    seen: list[str] = []
    with http_server(200, seen) as port:
        check_tracking_store(f"http://me:S3c%40ret@127.0.0.1:{port}/mlflow/")
    assert seen == ["/mlflow/health Basic bWU6UzNjQHJldA=="]  # me:S3c@ret


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("sqlite:///{tmp}/none/mlflow.db", "folder {tmp}/none does not exist"),
        ("sqlite:///{tmp}", "{tmp} is a folder, not a SQLite file"),
    ],
)
def test_a_sqlite_store_needs_its_folder(tmp_path: Path, uri: str, message: str) -> None:
    uri = uri.format(tmp=tmp_path)
    with pytest.raises(AutomlError) as info:
        check_tracking_store(uri)
    assert str(info.value) == f"MLflow tracking URI {uri}: {message.format(tmp=tmp_path)}"
    assert list(tmp_path.iterdir()) == []


def test_a_server_that_is_not_mlflow_is_refused() -> None:
    with http_server(404) as port, pytest.raises(AutomlError) as info:
        check_tracking_store(f"http://127.0.0.1:{port}")
    assert str(info.value) == (
        f"MLflow tracking URI http://127.0.0.1:{port} answered HTTP 404 to /health: "
        "is it an MLflow server?"
    )


@pytest.mark.parametrize(("uri", "expected"), CASES)
def test_a_store_that_cannot_be_used_stops_run_in_seconds_before_the_study(
    tmp_path: Path, uri: str, expected: str
) -> None:
    spec = study_file(tmp_path, "probed")
    work = tmp_path / "work"
    work.mkdir()
    with silent_server() as silent:
        values = {"port": free_port(), "silent": silent, "tmp": work}
        uri, expected = uri.format(**values), expected.format(**values)
        started = time.monotonic()
        out = subprocess.run(
            [sys.executable, "-m", "automl", "run", str(spec), "--tracking-uri", uri],
            cwd=work, env=environment(work), capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        took = time.monotonic() - started
    assert out.returncode == 2, out.stderr
    assert out.stdout == ""
    (line,) = out.stderr.splitlines()
    assert line.startswith(f"error: MLflow tracking URI {mask(uri)}")
    assert "S3cret" not in line
    assert expected in line
    assert took < 60  # the import of automl, then PROBE_SECONDS at most (MLflow: minutes)
    assert list(work.iterdir()) == []  # no journal, no mlflow.db, no study


def test_an_existing_storage_is_left_as_it_was(tmp_path: Path) -> None:
    journal = tmp_path / "automl.journal"
    storage = JournalStorage(JournalFileBackend(str(journal)))
    optuna.create_study(study_name="other", storage=storage).optimize(lambda t: 1.0, n_trials=1)
    before = journal.read_bytes()
    spec = study_file(tmp_path, "kept")
    for uri in ("foo://x", f"http://127.0.0.1:{free_port()}"):
        out = subprocess.run(
            [sys.executable, "-m", "automl", "run", str(spec), "--tracking-uri", uri],
            cwd=tmp_path, env=environment(tmp_path), capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert out.returncode == 2 and len(out.stderr.splitlines()) == 1, out.stderr
        assert journal.read_bytes() == before  # no study "kept" added, "other" untouched
