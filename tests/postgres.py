"""A throwaway PostgreSQL server for the tests marked `postgres`.

`server_url()` gives `AUTOML_TEST_POSTGRES_URL` when it is set (a server someone started);
otherwise it starts one from the machine's own binaries (`pg_config --bindir`) in a temporary
folder, on a free loopback port, once per test run, and stops and removes it at exit. Without
PostgreSQL's binaries it returns None and the tests that need a server skip, saying why.
"""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

ENV = "AUTOML_TEST_POSTGRES_URL"


def _bindir() -> Path | None:
    try:
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    path = Path(out.stdout.strip())
    return path if (path / "initdb").exists() and (path / "pg_ctl").exists() else None


def _as_server_user(command: list[str]) -> list[str]:
    """initdb refuses to run as root: there the server runs as the `postgres` user."""
    if os.geteuid() == 0 and shutil.which("runuser"):
        return ["runuser", "-u", "postgres", "--", *command]
    return command


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(bindir: Path) -> str:
    data = Path(tempfile.mkdtemp(prefix="automl-test-pg-"))
    if os.geteuid() == 0:
        shutil.chown(data, "postgres")
    port = _free_port()
    pg_ctl = str(bindir / "pg_ctl")

    def run(*command: str) -> None:
        subprocess.run(_as_server_user(list(command)), check=True, capture_output=True)

    def stop() -> None:
        subprocess.run(
            _as_server_user([pg_ctl, "-D", str(data), "-m", "fast", "-w", "stop"]),
            capture_output=True,
        )
        shutil.rmtree(data, ignore_errors=True)

    run(str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {data} -c max_connections=200"
    run(pg_ctl, "-D", str(data), "-l", str(data / "log"), "-w", "-o", options, "start")
    atexit.register(stop)
    run(str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "automl")
    return f"postgresql://postgres@127.0.0.1:{port}/automl"


@functools.cache
def server_url() -> str | None:
    """The test server's URL, starting one on first use; None where none can be had."""
    if os.environ.get(ENV):
        return os.environ[ENV]
    bindir = _bindir()
    return None if bindir is None else _start(bindir)
