"""optuna-dashboard behind a Host allow-list: the process `automl dashboard` starts.

optuna-dashboard answers whatever `Host` a request names, so a page on another site whose
name was rebound to 127.0.0.1 (DNS rebinding) could read and delete studies. Here its WSGI
app answers only the names this machine is reached by (127.0.0.1, localhost, ::1 and the
`--host` it listens on, on any port); any other `Host` gets 403. The storage
comes from AUTOML_STORAGE, not the command line, so its password is not in `ps`.

    AUTOML_STORAGE=URL python -m automl.cli.dashboard_server --host H --port P [--artifact-dir D]
"""

from __future__ import annotations

import argparse
import ipaddress
import socket
from collections.abc import Callable, Iterable, Sequence
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIServer, make_server

import optuna_dashboard
from optuna.artifacts import FileSystemArtifactStore

from automl.run.storage import open_storage
from automl.uris import default_storage

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
LOCAL_NAMES = ("127.0.0.1", "localhost", "::1")
WILDCARDS = ("0.0.0.0", "::", "")
FORBIDDEN = b"403 Forbidden: this dashboard answers only its own host names\n"


def allowed_names(host: str) -> set[str]:
    """The host names the dashboard answers to: this machine's, and the one it listens on."""
    names = {*LOCAL_NAMES, host}
    if host in WILDCARDS:  # listening everywhere: the machine's own names too
        names |= {socket.gethostname(), socket.getfqdn()}
    return {n.lower() for n in names if n}


def host_name(header: str) -> str:
    """The name in a `Host` header, without its port or an IPv6 address's brackets."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:].split("]", 1)[0]
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


def is_address(name: str) -> bool:
    """An IP address: no DNS name that a page could rebind."""
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


class HostGuard:
    """WSGI middleware: 403 for a request whose `Host` names no allowed name (any port: an
    SSH tunnel moves it); with `any_address`, an IP address is allowed too."""

    def __init__(self, app: WSGIApp, names: set[str], any_address: bool = False) -> None:
        self.app = app
        self.names = names
        self.any_address = any_address

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        name = host_name(str(environ.get("HTTP_HOST", "")))
        if name in self.names or (self.any_address and is_address(name)):
            return self.app(environ, start_response)
        start_response("403 Forbidden", [("Content-Type", "text/plain; charset=utf-8")])
        return [FORBIDDEN]


class ThreadedServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class ThreadedServer6(ThreadedServer):
    address_family = socket.AF_INET6


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="automl.cli.dashboard_server")
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--artifact-dir", help="the trials' plots (Optuna artifacts)")
    args = parser.parse_args(argv)
    artifacts = FileSystemArtifactStore(args.artifact_dir) if args.artifact_dir else None
    app = optuna_dashboard.wsgi(
        open_storage(default_storage(), must_exist=True), artifact_store=artifacts
    )
    guarded = HostGuard(app, allowed_names(args.host), any_address=args.host in WILDCARDS)
    server_class = ThreadedServer6 if ":" in args.host else ThreadedServer
    httpd = make_server(args.host, args.port, guarded, server_class=server_class)
    httpd.serve_forever()


if __name__ == "__main__":
    main()
