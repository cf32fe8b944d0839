"""The `automl` command line. Each command parses, calls one function, prints, exits.

Heavy imports (TensorFlow, MLflow, Optuna) happen inside the commands that need them, so
`automl --help` and `automl validate` answer at once.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from automl.errors import AutomlError
from automl.ui import DASHBOARD_PORT, LOOPBACK, MLFLOW_PORT, MLFLOW_WORKERS

app = typer.Typer(
    name="automl",
    help="Optuna-driven AutoML for Keras CNNs: run studies, watch them, keep the best model.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
)

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


SpecPath = Annotated[
    Path, typer.Argument(help="A study file (YAML), e.g. studies/digits_quick.yaml")
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


@app.command()
@user_errors
def run(
    spec_path: SpecPath,
    storage: StorageOpt = None,
    trials: Annotated[
        int | None, typer.Option(min=1, help="Total trials for the study (all workers)")
    ] = None,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes on this machine")] = 1,
    tracking_uri: TrackingOpt = None,
    gpus: Annotated[
        str | None, typer.Option(help="GPU ids to spread workers over, e.g. 0,1 (default: all)")
    ] = None,
) -> None:
    """Create the study (or join it) and run it until its budget of trials is met."""
    from automl.progress import Progress, format_hyperparameters
    from automl.spec import load_spec
    from automl.storage import default_storage
    from automl.tracking import default_tracking_uri
    from automl.workers import run_study

    spec = load_spec(spec_path)
    result = run_study(
        spec,
        storage or default_storage(),
        tracking_uri or default_tracking_uri(),
        workers=workers,
        trials=trials,
        gpus=[g.strip() for g in gpus.split(",") if g.strip()] if gpus is not None else None,
        progress=Progress(),
    )
    counts = ", ".join(f"{v} {k.lower()}" for k, v in sorted(result.states.items()))
    typer.echo(f"study {result.study_name}: {counts} (budget {result.budget})")
    if result.best_number is None:
        typer.echo("no trial has completed yet")
    else:
        typer.echo(f"best trial {result.best_number}: {spec.metric} {result.best_value:.4f}")
        typer.echo(f"  {format_hyperparameters(result.best_hyperparameters)}")
        if result.best_run_id:
            typer.echo(f"  MLflow run {result.best_run_id}")
    if result.interrupted:
        typer.echo("interrupted: run the same command again to resume", err=True)
        raise typer.Exit(130)


@app.command()
@user_errors
def validate(spec_path: SpecPath) -> None:
    """Check a study file and print the search space it resolves to (imports no TensorFlow)."""
    from automl.space import describe, grid_size
    from automl.spec import load_spec
    from automl.study import budget, check_requirements

    spec = load_spec(spec_path)
    check_requirements(spec)
    sampler = spec.sampler.name
    typer.echo(
        f"ok: study {spec.name} on {spec.dataset.name}, {spec.direction} {spec.metric}, "
        f"{budget(spec)} trials of at most {spec.epochs} epochs, sampler {sampler}, "
        f"pruner {spec.pruner.name}"
    )
    for line in describe(spec):
        typer.echo(f"  {line}")
    if sampler == "grid":
        typer.echo(f"grid size: {grid_size(spec)}")


HostOpt = Annotated[
    str,
    typer.Option(
        help="Interface to listen on. Beyond 127.0.0.1 anyone who reaches it can read and change "
        "your studies: put a reverse proxy with authentication in front"
    ),
]


@app.command()
@user_errors
def dashboard(
    storage: StorageOpt = None,
    host: HostOpt = LOOPBACK,
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on")] = DASHBOARD_PORT,
    artifact_dir: Annotated[
        Path | None,
        typer.Option(
            help="Optuna artifact folder (learning curves). Default: $AUTOML_ARTIFACTS, else "
            "automl-artifacts beside the storage file"
        ),
    ] = None,
) -> None:
    """Serve optuna-dashboard on the study storage, with the trials' plots, until Ctrl-C."""
    from automl.ui import dashboard as serve_dashboard

    serve_dashboard(storage, host, port, artifact_dir, echo=typer.echo)


@app.command("mlflow-ui")
@user_errors
def mlflow_ui(
    tracking_uri: TrackingOpt = None,
    host: HostOpt = LOOPBACK,
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on")] = MLFLOW_PORT,
    workers: Annotated[
        int, typer.Option(min=1, help="Server worker processes (each ~250 MB)")
    ] = MLFLOW_WORKERS,
) -> None:
    """Serve the MLflow UI on the tracking store `automl run` writes to, until Ctrl-C."""
    from automl.ui import mlflow_ui as serve_mlflow_ui

    serve_mlflow_ui(tracking_uri, host, port, workers, echo=typer.echo)


def main() -> None:
    app(prog_name="automl")


if __name__ == "__main__":
    main()
