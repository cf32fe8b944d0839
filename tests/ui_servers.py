"""`automl dashboard` and `automl mlflow-ui` run as a user runs them, stopped as a user does."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psutil

READY_LINE = "(Ctrl-C stops it)"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Served:
    proc: subprocess.Popen[bytes]
    url: str
    log: Path

    def family(self) -> list[psutil.Process]:
        """The command and every process it started."""
        me = psutil.Process(self.proc.pid)
        return [me, *me.children(recursive=True)]

    def listening(self) -> set[tuple[str, int]]:
        found = set()
        for process in self.family():
            for conn in process.net_connections("inet"):
                if conn.status == psutil.CONN_LISTEN:
                    found.add((conn.laddr.ip, conn.laddr.port))
        return found

    def stop(self, sig: int = signal.SIGINT) -> int:
        """Ctrl-C (or SIGTERM) as a terminal sends it; the exit code once the command is done."""
        self.proc.send_signal(sig)
        return self.proc.wait(60)


def _ctrl_c_reaches_it() -> None:
    # As in a terminal: a background shell may have ignored SIGINT, which children inherit.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@contextmanager
def served(
    args: list[str], log: Path, cwd: Path | None = None, env: dict[str, str] | None = None
) -> Iterator[Served]:
    """Run `python -m automl ARGS` until it prints its address; stop it at the end anyway."""
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "automl", *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env={**(os.environ if env is None else env), "PYTHONUNBUFFERED": "1"},
            preexec_fn=_ctrl_c_reaches_it,
        )
    try:
        deadline = time.monotonic() + 120
        while True:
            text = log.read_text(errors="replace")
            ready = [line for line in text.splitlines() if line.endswith(READY_LINE)]
            if ready:
                url = ready[0].split(": ", 1)[1].split(" ", 1)[0]
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"automl {' '.join(args)} did not start:\n{text}")
            time.sleep(0.2)
        yield Served(proc, url, log)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def gone(processes: list[psutil.Process]) -> bool:
    """Every process has exited (a zombie waiting for init counts as exited)."""
    for process in processes:
        try:
            if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                return False
        except psutil.NoSuchProcess:
            continue
    return True


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def outside_address() -> str | None:
    """An IPv4 address of this machine that is not loopback, if it has one."""
    for addresses in psutil.net_if_addrs().values():
        for address in addresses:
            if address.family == socket.AF_INET and not address.address.startswith("127."):
                return str(address.address)
    return None
