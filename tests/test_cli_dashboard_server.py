"""The dashboard's Host allow-list: which `Host` headers reach optuna-dashboard (a real
dashboard behind it is tested in tests/test_cli_servers.py)."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from automl.cli.dashboard_server import HostGuard, allowed_names


def status(host: str, listen: str) -> str:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [])
        return [b"ok"]

    answered: list[str] = []
    guard = HostGuard(app, allowed_names(listen), any_address=listen in ("0.0.0.0", "::"))
    guard({"HTTP_HOST": host}, lambda s, headers: answered.append(s))
    return answered[0].split()[0]


@pytest.mark.parametrize(
    ("host", "listen", "expected"),
    [
        ("127.0.0.1:8080", "127.0.0.1", "200"),
        ("localhost:2222", "127.0.0.1", "200"),  # an SSH tunnel's port
        ("[::1]:8080", "::1", "200"),
        ("box.lan:8080", "box.lan", "200"),  # the name --host gave
        ("box.lan:8080", "127.0.0.1", "403"),
        ("evil.example", "127.0.0.1", "403"),
        ("evil.example:8080", "0.0.0.0", "403"),  # a name: could be rebound
        ("192.168.1.20:8080", "0.0.0.0", "200"),  # an address: cannot
        ("[fe80::1]:8080", "::", "200"),
        ("192.168.1.20:8080", "127.0.0.1", "403"),
        (f"{socket.gethostname()}:8080", "0.0.0.0", "200"),
        ("", "0.0.0.0", "403"),
    ],
)
def test_only_this_machines_names_pass(host: str, listen: str, expected: str) -> None:
    assert status(host, listen) == expected
