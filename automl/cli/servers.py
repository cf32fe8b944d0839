"""optuna-dashboard and the MLflow UI, each a child process of one command, on 127.0.0.1.

Both read the stores `automl run` writes by default (and the artifact folder beside the
Optuna storage), so `automl dashboard` and `automl mlflow-ui` need no arguments in the folder
a study ran in. A port in use, a storage that is not there and a tracking store that cannot be
reached are reported before anything starts. The child runs in its own process group: Ctrl-C
(or SIGTERM) here stops it and the processes it started, and nothing is left behind.
"""

from __future__ import annotations

import errno
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

import psutil
import sqlalchemy

from automl.errors import AutomlError, first_line
from automl.run.storage import open_storage
from automl.tracking.artifacts import artifact_dir
from automl.uris import (
    LOOPBACK,
    default_storage,
    default_tracking_uri,
    is_server,
    is_url,
    sqlite_path,
    storage_label,
)

# How long a server may take to listen, and to stop once signalled.
READY_SECONDS = 120.0
STOP_SECONDS = 10.0
EXPOSED_NOTE = (
    "note: listening on {host}, beyond this machine; neither UI has logins, so anyone who "
    "reaches port {port} can read and change your studies. Put a reverse proxy with "
    "authentication in front."
)

Echo = Callable[[str], None]


@dataclass(frozen=True)
class Service:
    """A UI server to start: its command line and where it will listen."""

    name: str
    argv: list[str]
    host: str
    port: int
    env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        host = {"0.0.0.0": LOOPBACK, "::": "::1", "": LOOPBACK}.get(self.host, self.host)
        return f"http://{f'[{host}]' if ':' in host else host}:{self.port}/"


def dashboard(
    storage: str | None, host: str, port: int, artifacts: Path | None, echo: Echo
) -> None:
    """Serve optuna-dashboard on the storage, with the trials' artifacts, until Ctrl-C."""
    serve(dashboard_service(storage or default_storage(), host, port, artifacts), echo)


def mlflow_ui(tracking_uri: str | None, host: str, port: int, workers: int, echo: Echo) -> None:
    """Serve the MLflow UI on the tracking store until Ctrl-C (a server URI is already one)."""
    uri = tracking_uri or default_tracking_uri()
    if is_server(uri):
        check_server(uri)
        echo(f"MLflow UI: {uri} (already served there)")
        return
    serve(mlflow_service(uri, host, port, workers), echo)


def dashboard_service(storage: str, host: str, port: int, artifacts: Path | None) -> Service:
    """optuna-dashboard on an existing storage, with the Optuna artifact folder beside it."""
    check_port(host, port)
    open_storage(storage, must_exist=True)  # a missing file or an unreachable database
    folder = artifacts or artifact_dir(storage)
    executable = Path(sys.executable).with_name("optuna-dashboard")
    program = str(executable) if executable.exists() else shutil.which("optuna-dashboard")
    if program is None:
        raise AutomlError("optuna-dashboard is not installed: pip install optuna-dashboard")
    target = storage if is_url(storage) else str(Path(storage).resolve())
    argv = [program, target, "--host", host, "--port", str(port), "--artifact-dir", str(folder)]
    if not is_url(storage):
        argv += ["--storage-class", "JournalFileStorage"]
    # wsgiref is one process; gunicorn (used when installed) would be two.
    argv += ["--server", "wsgiref"]
    return Service("optuna-dashboard", argv, host, port)


def mlflow_service(tracking_uri: str, host: str, port: int, workers: int) -> Service:
    """`mlflow server` on an existing tracking store, keeping artifacts beside a SQLite file."""
    check_port(host, port)
    check_store(tracking_uri)
    argv = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", tracking_uri]
    argv += ["--host", host, "--port", str(port), "--workers", str(workers)]
    sqlite_file = sqlite_path(tracking_uri)
    if sqlite_file is not None:
        # Without a server MLflow keeps artifacts in ./mlruns beside ./mlflow.db; runs logged
        # through this server (--tracking-uri http://...) go there too.
        argv += ["--artifacts-destination", str(sqlite_file.resolve().parent / "mlruns")]
    # MLflow 3's host-header and CORS guards stay on: no --allowed-hosts '*' here.
    env = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    return Service("MLflow UI", argv, host, port, env)


def check_port(host: str, port: int) -> None:
    """Refuse a port something else listens on, before a server fails on it with a traceback."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        # As the servers do: a port left in TIME_WAIT by a stopped server is free.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise AutomlError(
                    f"port {port} on {host} is in use; pick another with --port"
                ) from None
            raise AutomlError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def check_store(tracking_uri: str) -> None:
    """A tracking store the MLflow UI can open: the SQLite file exists, the database answers."""
    sqlite_file = sqlite_path(tracking_uri)
    if sqlite_file is not None:
        if not sqlite_file.is_file():
            raise AutomlError(
                f"MLflow tracking URI {tracking_uri}: no such SQLite file; run a study here "
                "first, or pass --tracking-uri"
            )
        return
    scheme = tracking_uri.split("://", 1)[0].split("+", 1)[0] if "://" in tracking_uri else ""
    if scheme in ("postgresql", "mysql", "mssql"):
        try:
            engine = sqlalchemy.create_engine(tracking_uri)
            with engine.connect():
                pass
        except Exception as exc:  # noqa: BLE001 - drivers raise many kinds for a bad URL
            raise AutomlError(
                f"MLflow tracking URI {storage_label(tracking_uri)} cannot be reached: "
                f"{first_line(exc)}"
            ) from None
    elif scheme in ("", "file") and not Path(tracking_uri.removeprefix("file://")).is_dir():
        raise AutomlError(f"MLflow tracking URI {tracking_uri}: no such folder")


def check_server(uri: str) -> None:
    """An MLflow server answers its health check."""
    try:
        with urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=10) as response:
            response.read()
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise AutomlError(f"MLflow tracking URI {uri} cannot be reached: {reason}") from None


def serve(service: Service, echo: Echo) -> None:
    """Start the service, say where it listens, and keep it until Ctrl-C or SIGTERM."""
    proc = subprocess.Popen(service.argv, env={**os.environ, **service.env}, start_new_session=True)
    restore = _interrupt_on_sigterm()
    interrupted = False
    try:
        _wait_until_listening(proc, service)
        echo(f"{service.name}: {service.url} (Ctrl-C stops it)")
        if service.host not in (LOOPBACK, "localhost", "::1"):
            echo(EXPOSED_NOTE.format(host=service.host, port=service.port))
        code = proc.wait()
        raise AutomlError(f"{service.name} stopped by itself with exit code {code}; see above")
    except KeyboardInterrupt:
        interrupted = True
    finally:
        stop(proc)
        restore()
    if interrupted:
        echo(f"{service.name}: stopped")


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop the child's whole process group: the MLflow server runs its workers as children."""
    try:
        family = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        family = []
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + STOP_SECONDS
        while time.monotonic() < deadline and any(_alive(p) for p in family):
            proc.poll()  # reap the child itself; init reaps the rest
            time.sleep(0.05)
        if not any(_alive(p) for p in family):
            break
    proc.wait()


def _alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _wait_until_listening(proc: subprocess.Popen[bytes], service: Service) -> None:
    host = service.url.split("//", 1)[1].rsplit(":", 1)[0].strip("[]")
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        code = proc.poll()
        if code is not None:
            raise AutomlError(
                f"{service.name} exited with code {code} before it listened on "
                f"{service.url}; see its messages above"
            )
        try:
            with socket.create_connection((host, service.port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise AutomlError(f"{service.name} did not listen on {service.url} within {READY_SECONDS}s")


def _interrupt_on_sigterm() -> Callable[[], None]:
    """SIGTERM stops the UI as Ctrl-C does, so the child is never orphaned."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)

    def restore() -> None:
        signal.signal(signal.SIGTERM, previous)

    return restore
