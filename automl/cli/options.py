"""The `automl` command line. Each command parses, calls one function, prints, exits.

Heavy imports (TensorFlow, MLflow, Optuna) happen inside the commands that need them, so
`automl --help` and `automl validate` answer at once.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from automl.errors import AutomlError

if TYPE_CHECKING:
    pass

F = TypeVar("F", bound=Callable[..., Any])


def user_errors(func: F) -> F:
    """A user's mistake becomes one line per problem on stderr and exit code 2, no traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except AutomlError as exc:
            for line in exc.lines():
                typer.echo(f"error: {line}", err=True)
            raise typer.Exit(2) from None

    return wrapper  # type: ignore[return-value]


def complete_spec_files(incomplete: str) -> list[str]:
    """Study files for completion: studies/*.yaml and YAML files in the folder being typed."""
    folders = {Path("studies"), Path(incomplete).parent}
    found = {str(p) for d in folders for pattern in ("*.yaml", "*.yml") for p in d.glob(pattern)}
    return sorted(f for f in found if f.startswith(incomplete))


def complete_study_names(incomplete: str) -> list[str]:
    """Studies in the default storage, for completion; local files only, so it never waits on
    a server, and nothing at all when the storage cannot be read."""
    from automl.uris import default_storage, is_url

    storage = default_storage()
    if is_url(storage) and not storage.startswith("sqlite:///"):
        return []
    try:
        import optuna

        from automl.run.storage import open_storage

        optuna.logging.set_verbosity(optuna.logging.ERROR)
        names = optuna.get_all_study_names(storage=open_storage(storage, must_exist=True))
    except Exception:  # noqa: BLE001 - completion must never print a traceback into a shell
        return []
    return sorted(n for n in names if n.startswith(incomplete))


def complete_set(incomplete: str) -> list[str]:
    """--set: the fields of a study file as KEY=, and existing study names after name=."""
    from automl.spec.schema import PARAMS, TOP_LEVEL

    if incomplete.startswith("name="):
        return [f"name={n}" for n in complete_study_names(incomplete.removeprefix("name="))]
    keys = [f"{k}=" for k in TOP_LEVEL if k != "params"] + [f"params.{p}=" for p in PARAMS]
    return [k for k in keys if k.startswith(incomplete)]


SpecPath = Annotated[
    Path,
    typer.Argument(
        help="A study file (YAML), e.g. studies/digits_quick.yaml",
        autocompletion=complete_spec_files,
    ),
]
SetOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        metavar="KEY=VALUE",
        help="Override a field of the file for this command (repeatable): epochs=3, "
        "name=other, sampler.seed=1, params.learning_rate=1e-4..1e-1:log (the --param syntax "
        "of `automl new`)",
        autocompletion=complete_set,
    ),
]
StorageOpt = Annotated[
    str | None,
    typer.Option(
        "--storage",
        help="Optuna storage: a database URL (sqlite:///x.db, postgresql://user@host/db) or a "
        "journal file path. Default: $AUTOML_STORAGE, else ./automl.journal",
    ),
]
TrackingOpt = Annotated[
    str | None,
    typer.Option(
        "--tracking-uri",
        help="MLflow tracking URI. Default: $MLFLOW_TRACKING_URI, else sqlite:///./mlflow.db",
    ),
]


def _choices(names: Iterable[str]) -> Callable[[str], list[str]]:
    """Completion from one of spec's tables, which stay the one list of names."""
    return lambda incomplete: [n for n in names if n.startswith(incomplete)]


# ---------------------------------------------------------------------------- results

StudyName = Annotated[str, typer.Argument(help="The study's name (see `automl studies`)")]

HostOpt = Annotated[
    str,
    typer.Option(
        help="Interface to listen on. Beyond 127.0.0.1 anyone who reaches it can read and change "
        "your studies: put a reverse proxy with authentication in front"
    ),
]
