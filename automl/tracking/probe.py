"""One look at a tracking store before anything is created for it: does it answer, quickly?

MLflow retries an unreachable server for minutes and an unreachable database with pages of
warnings, after automl has already made the study. This asks once, with a timeout of a few
seconds, and says in one line what is wrong. It imports neither MLflow nor TensorFlow.
"""

from __future__ import annotations

import base64
import http.client
import urllib.error
import urllib.parse
import urllib.request

import sqlalchemy
from sqlalchemy.pool import NullPool

from automl.errors import AutomlError, first_line
from automl.uris import SQLITE_PREFIX, is_server, mask, redact, sqlite_path

# How long the store gets to answer.
PROBE_SECONDS = 5
# Database URLs MLflow keeps its runs in, and each driver's name for a connect timeout.
DATABASES = {"postgresql": "connect_timeout", "mysql": "connect_timeout", "mssql": "timeout"}
ACCEPTED = (
    "http(s)://HOST:PORT (an MLflow server), sqlite:///FILE, or a database URL "
    "(postgresql://, mysql://, mssql://)"
)


def check_tracking_store(tracking_uri: str | None) -> None:
    """Refuse a tracking store that is unknown or does not answer within PROBE_SECONDS.

    None (no tracking) passes."""
    if tracking_uri is None:
        return
    if is_server(tracking_uri):
        check_server(tracking_uri)
    elif tracking_uri.startswith(SQLITE_PREFIX):
        _check_sqlite(tracking_uri)
    elif database_scheme(tracking_uri) is not None:
        check_database(tracking_uri)
    else:
        raise AutomlError(f"MLflow tracking URI {mask(tracking_uri)}: automl accepts {ACCEPTED}")


def database_scheme(uri: str) -> str | None:
    """`postgresql` for postgresql+psycopg://...; None for a URI that is no database URL."""
    scheme = uri.split("://", 1)[0].split("+", 1)[0] if "://" in uri else ""
    return scheme if scheme in DATABASES else None


def check_server(uri: str) -> None:
    """An MLflow server answers its health check within PROBE_SECONDS."""
    shown = mask(uri)
    try:
        with urllib.request.urlopen(health_request(uri), timeout=PROBE_SECONDS) as response:
            response.read()
    except urllib.error.HTTPError as exc:
        raise AutomlError(
            f"MLflow tracking URI {shown} answered HTTP {exc.code} to /health: "
            "is it an MLflow server?"
        ) from None
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        if isinstance(reason, TimeoutError):
            reason = f"no answer within {PROBE_SECONDS} s"
        raise AutomlError(
            f"MLflow tracking URI {shown} cannot be reached: {redact(str(reason), uri)}"
        ) from None


def health_request(uri: str) -> urllib.request.Request:
    """GET /health, with the URI's `user:password@` as basic authentication, as MLflow's
    client sends it (urllib would take the user part for the host)."""
    parts = urllib.parse.urlsplit(uri)
    user, _, host = parts.netloc.rpartition("@")
    url = urllib.parse.urlunsplit(parts._replace(netloc=host, path=parts.path.rstrip("/")))
    request = urllib.request.Request(f"{url.split('?', 1)[0]}/health")
    if user:
        token = base64.b64encode(urllib.parse.unquote(user).encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    return request


def check_database(uri: str) -> None:
    """A database tracking store accepts a connection within PROBE_SECONDS."""
    scheme = database_scheme(uri)
    connect_args = {DATABASES[scheme]: PROBE_SECONDS} if scheme else {}
    try:
        engine = sqlalchemy.create_engine(uri, poolclass=NullPool, connect_args=connect_args)
        try:
            with engine.connect():
                pass
        finally:
            engine.dispose()
    except Exception as exc:  # noqa: BLE001 - drivers raise many kinds for a bad URL
        raise AutomlError(
            f"MLflow tracking URI {mask(uri)} cannot be reached: {redact(first_line(exc), uri)}"
        ) from None


def _check_sqlite(uri: str) -> None:
    path = sqlite_path(uri)
    if path is not None and not path.parent.is_dir():
        raise AutomlError(f"MLflow tracking URI {uri}: folder {path.parent} does not exist")
    if path is not None and path.is_dir():
        raise AutomlError(f"MLflow tracking URI {uri}: {path} is a folder, not a SQLite file")
