"""Storage and tracking URIs: what each string names, where its file lives, how it is shown.

An Optuna storage is a database URL or the path of a journal file; an MLflow tracking URI is a
server's address, a database URL or `sqlite:///FILE`. Every module asks here, so a URI is
read by one set of rules (a SQLite URL's `?query` is never part of its file name) and a
password is hidden the same way wherever a URI is shown.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from urllib.parse import unquote

DEFAULT_STORAGE = "automl.journal"
STORAGE_ENV = "AUTOML_STORAGE"
SQLITE_PREFIX = "sqlite:///"
LOOPBACK = "127.0.0.1"
DASHBOARD_PORT = 8080
MLFLOW_PORT = 5000
# MLflow 3's UI opens in its GenAI mode unless the address asks for model training.
UI_MODE = "workflowType=machine_learning"


def default_storage() -> str:
    return os.environ.get(STORAGE_ENV) or DEFAULT_STORAGE


def default_tracking_uri() -> str:
    """MLFLOW_TRACKING_URI, else MLflow's own default: a SQLite file in the current folder."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"{SQLITE_PREFIX}{Path.cwd() / 'mlflow.db'}"


def is_url(storage: str) -> bool:
    return "://" in storage


def is_server(uri: str) -> bool:
    """Whether the tracking URI is an MLflow server, whose pages a browser can open."""
    return uri.startswith(("http://", "https://"))


def sqlite_path(uri: str) -> Path | None:
    """The file of a `sqlite:///FILE[?query]` URI; None for any other URI and for `:memory:`."""
    if not uri.startswith(SQLITE_PREFIX):
        return None
    path = uri.removeprefix(SQLITE_PREFIX).split("?", 1)[0]
    return Path(path) if path and path != ":memory:" else None


def local_file(storage: str) -> Path | None:
    """The file behind a journal path or a SQLite URL; None for a database server."""
    return Path(storage) if not is_url(storage) else sqlite_path(storage)


def missing_sqlite_store(tracking_uri: str) -> bool:
    """A SQLite tracking URI whose file does not exist: opening it would create an empty
    store in the user's folder, so readers stop instead."""
    path = sqlite_path(tracking_uri)
    return path is not None and not path.is_file()


def cluster_store_problem(storage: str, tracking_uri: str | None) -> str | None:
    """Why workers on other machines (`automl run --ray`) could not share these stores: a
    journal or SQLite file, or an MLflow SQLite or file store, lives on this machine only."""
    if local_file(storage) is not None:
        return (
            f"--ray: storage {storage} is a file on this machine, which the other Ray nodes "
            "cannot see; use a PostgreSQL database every node reaches "
            "(--storage postgresql://USER:PASSWORD@HOST/DB)"
        )
    if tracking_uri is not None and (
        tracking_uri.startswith(("sqlite:", "file:")) or not is_url(tracking_uri)
    ):
        return (
            f"--ray: MLflow tracking URI {tracking_uri} is a store on this machine, which the "
            "other Ray nodes cannot see; use an MLflow server (--tracking-uri http://HOST:5000) "
            "or a database URL every node reaches"
        )
    return None


def store_key(tracking_uri: str) -> str:
    """Names a tracking store in the study without its URI (which may hold a password)."""
    return hashlib.sha256(tracking_uri.encode()).hexdigest()[:16]


# The password of a URL's user part (up to the URL's last `@`, as SQLAlchemy reads it, a `/`
# included), and of a `password=` query field. Read by pattern, not parsed: a URL urllib
# rejects (`[::1` unclosed) is still shown without its password.
USER_PASSWORD = re.compile(r"^(?P<head>[^:/?#]+://[^:/?#@]*):(?P<password>.*)@")
QUERY_PASSWORD = re.compile(r"(?P<head>[?&]password=)(?P<password>[^&#]*)")


def mask(url: str) -> str:
    """The URL with its password, in the user part or in a `password=` query field, as `***`.

    The user part reaches the address's last `@`, so a password that holds an `@` is hidden
    whole (SQLAlchemy's `make_url` splits it at the first one)."""
    if not is_url(url):
        return url
    url = USER_PASSWORD.sub(r"\g<head>:***@", url, count=1)
    return QUERY_PASSWORD.sub(r"\g<head>***", url)


def passwords(url: str) -> list[str]:
    """The passwords a URL holds (as written and percent-decoded), to hide where quoted."""
    if not is_url(url):
        return []
    user = USER_PASSWORD.match(url)
    found = [user["password"]] if user else []
    found += [m["password"] for m in QUERY_PASSWORD.finditer(url)]
    return [p for p in {*found, *map(unquote, found)} if p]


def redact(text: str, url: str) -> str:
    """`text` (a driver's message about `url`) with the URL's passwords as `***`.

    A driver that splits a password at its `@` quotes the pieces (`failed to resolve host
    'retPW@db'`): each piece of three characters or more is hidden too."""
    for password in passwords(url):
        pieces = [p for p in password.split("@") if len(p) >= 3]
        for secret in sorted({password, *pieces}, key=len, reverse=True):
            text = text.replace(secret, "***")
    return text


def storage_label(storage: str) -> str:
    """The storage as runs record it: a journal file's absolute path, a URL without password."""
    return mask(storage) if is_url(storage) else str(Path(storage).resolve())


def experiment_url(uri: str, experiment_id: str) -> str:
    return f"{uri.rstrip('/')}/#/experiments/{experiment_id}/runs?{UI_MODE}"


def run_url(uri: str, experiment_id: str, run_id: str) -> str:
    return f"{uri.rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}?{UI_MODE}"


def dashboard_url(study_id: int, trial_number: int | None = None) -> str:
    """The study's (or trial's) page in optuna-dashboard as `automl dashboard` serves it."""
    url = f"http://{LOOPBACK}:{DASHBOARD_PORT}/dashboard/studies/{study_id}"
    return url if trial_number is None else f"{url}/trials?numbers={trial_number}"


def dashboard_note(study: str, storage: str, study_id: int, trial: int | None = None) -> str:
    what = f"Trial {trial} of Optuna study" if trial is not None else "Optuna study"
    return (
        f"{what} **{study}**, storage `{storage}`.\n\n"
        f"In optuna-dashboard (`automl dashboard --storage {storage}`): "
        f"{dashboard_url(study_id, trial)}"
    )
