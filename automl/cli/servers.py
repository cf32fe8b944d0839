"""optuna-dashboard and the MLflow UI, each a child process of one command, on 127.0.0.1.

Both read the stores `automl run` writes by default (and the artifact folder beside the
Optuna storage), so `automl dashboard` and `automl mlflow-ui` need no arguments in the folder
a study ran in. A port in use, a storage that is not there and a tracking store that cannot be
reached are reported before anything starts. The child runs in its own process group: Ctrl-C
(or SIGTERM) here stops it and the processes it started, and nothing is left behind.
"""

from __future__ import annotations

import errno
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

import psutil

from automl.errors import AutomlError
from automl.run.storage import open_storage
from automl.tracking.artifacts import artifact_dir
from automl.tracking.probe import check_database, check_server, database_scheme
from automl.uris import (
    LOOPBACK,
    STORAGE_ENV,
    UI_MODE,
    default_storage,
    default_tracking_uri,
    is_server,
    is_url,
    mask,
    sqlite_path,
)

# How long a server may take to listen, and to stop once signalled.
READY_SECONDS = 120.0
# The child `automl dashboard` serves optuna-dashboard in.
DASHBOARD_SERVER = "automl.cli.dashboard_server"
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
    home: str = ""  # the page to open, after `url`

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
        echo(f"MLflow UI: {mask(uri)} (already served there)")
        return
    serve(mlflow_service(uri, host, port, workers), echo)


def dashboard_service(storage: str, host: str, port: int, artifacts: Path | None) -> Service:
    """optuna-dashboard on an existing storage, with the Optuna artifact folder beside it,
    behind a Host allow-list (`automl.cli.dashboard_server`); the storage travels in the
    child's environment, where `ps` does not show its password."""
    check_port(host, port)
    open_storage(storage, must_exist=True)  # a missing file or an unreachable database
    folder = artifacts or artifact_dir(storage)
    if importlib.util.find_spec("optuna_dashboard") is None:
        raise AutomlError("optuna-dashboard is not installed: pip install optuna-dashboard")
    target = storage if is_url(storage) else str(Path(storage).resolve())
    argv = [sys.executable, "-m", DASHBOARD_SERVER, "--host", host, "--port", str(port)]
    argv += ["--artifact-dir", str(folder)]
    return Service("optuna-dashboard", argv, host, port, {STORAGE_ENV: target})


def mlflow_service(tracking_uri: str, host: str, port: int, workers: int) -> Service:
    """`mlflow server` on an existing tracking store, keeping artifacts beside a SQLite file."""
    check_port(host, port)
    check_store(tracking_uri)
    argv = [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]
    sqlite_file = sqlite_path(tracking_uri)
    if sqlite_file is not None:
        # Without a server MLflow keeps artifacts in ./mlruns beside ./mlflow.db; runs logged
        # through this server (--tracking-uri http://...) go there too.
        argv += ["--artifacts-destination", str(sqlite_file.resolve().parent / "mlruns")]
    # MLflow 3's host-header and CORS guards stay on: no --allowed-hosts '*' here.
    # The store in the environment, not the command line: `ps` would show its password.
    env = {"MLFLOW_BACKEND_STORE_URI": tracking_uri, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    # MLflow 3's UI picks GenAI or model training from the address (else from what the
    # browser chose last, GenAI at first), not from the experiment's kind tag.
    return Service("MLflow UI", argv, host, port, env, home=f"#/experiments?{UI_MODE}")


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
    if database_scheme(tracking_uri) is not None:
        check_database(tracking_uri)
        return
    folder = "://" not in tracking_uri or tracking_uri.startswith("file://")
    if folder and not Path(tracking_uri.removeprefix("file://")).is_dir():
        raise AutomlError(f"MLflow tracking URI {tracking_uri}: no such folder")


def serve(service: Service, echo: Echo) -> None:
    """Start the service, say where it listens, and keep it until Ctrl-C or SIGTERM."""
    proc = subprocess.Popen(service.argv, env={**os.environ, **service.env}, start_new_session=True)
    restore = _interrupt_on_sigterm()
    interrupted = False
    try:
        _wait_until_listening(proc, service)
        echo(f"{service.name}: {service.url} (Ctrl-C stops it)")
        if service.home:
            echo(f"{service.name}: the studies' training runs: {service.url}{service.home}")
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
