"""The `automl` command line. Each command parses, calls one function, prints, exits.

Heavy imports (TensorFlow, MLflow, Optuna) happen inside the commands that need them, so
`automl --help` and `automl validate` answer at once.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from automl.errors import AutomlError
from automl.spec import DATASETS, PRUNERS, SAMPLERS

if TYPE_CHECKING:
    from automl.spec import StudySpec
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


def complete_spec_files(incomplete: str) -> list[str]:
    """Study files for completion: studies/*.yaml and YAML files in the folder being typed."""
    folders = {Path("studies"), Path(incomplete).parent}
    found = {str(p) for d in folders for pattern in ("*.yaml", "*.yml") for p in d.glob(pattern)}
    return sorted(f for f in found if f.startswith(incomplete))


def complete_study_names(incomplete: str) -> list[str]:
    """Studies in the default storage, for completion; local files only, so it never waits on
    a server, and nothing at all when the storage cannot be read."""
    from automl.storage import default_storage, is_url

    storage = default_storage()
    if is_url(storage) and not storage.startswith("sqlite:///"):
        return []
    try:
        import optuna

        from automl.storage import open_storage

        optuna.logging.set_verbosity(optuna.logging.ERROR)
        names = optuna.get_all_study_names(storage=open_storage(storage, must_exist=True))
    except Exception:  # noqa: BLE001 - completion must never print a traceback into a shell
        return []
    return sorted(n for n in names if n.startswith(incomplete))


def complete_set(incomplete: str) -> list[str]:
    """--set: the fields of a study file as KEY=, and existing study names after name=."""
    from automl.spec import PARAMS, TOP_LEVEL

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


@app.command()
@user_errors
def run(
    spec_path: SpecPath,
    set_: SetOpt = None,
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
    from automl.overrides import parse_sets
    from automl.progress import Progress, format_hyperparameters
    from automl.spec import load_spec
    from automl.storage import default_storage
    from automl.tracking import default_tracking_uri
    from automl.workers import run_study

    spec = load_spec(spec_path, parse_sets(set_ or []))
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
def validate(spec_path: SpecPath, set_: SetOpt = None) -> None:
    """Check a study file and print the search space it resolves to (imports no TensorFlow)."""
    from automl.data import check_dataset
    from automl.overrides import parse_sets
    from automl.spec import load_spec
    from automl.study import check_requirements

    spec = load_spec(spec_path, parse_sets(set_ or []))
    check_requirements(spec)
    data = check_dataset(spec.dataset, fetch=False)
    _show_spec(spec, "ok")
    typer.echo(f"data: {data}")


def _show_spec(spec: StudySpec, verdict: str) -> None:
    """The study as `validate` and `new` print it: one summary line, one line per parameter."""
    from automl.space import describe, grid_size
    from automl.study import budget

    sampler = spec.sampler.name
    typer.echo(
        f"{verdict}: study {spec.name} on {spec.dataset.name}, {spec.direction} {spec.metric}, "
        f"{budget(spec)} trials of at most {spec.epochs} epochs, sampler {sampler}, "
        f"pruner {spec.pruner.name}"
    )
    for line in describe(spec):
        typer.echo(f"  {line}")
    if sampler == "grid":
        typer.echo(f"grid size: {grid_size(spec)}")


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


@app.command()
@user_errors
def new(
    name: Annotated[str, typer.Argument(help="The study's name (its Optuna study name)")],
    dataset: Annotated[
        str,
        typer.Option(
            help=f"{', '.join(d for d in DATASETS if d not in ('folder', 'npz'))}, an .npz "
            "file, or a folder with one folder of images per class",
            autocompletion=_choices(DATASETS),
        ),
    ] = "digits",
    sampler: Annotated[
        str,
        typer.Option(help=", ".join(SAMPLERS), autocompletion=_choices(SAMPLERS)),
    ] = "tpe",
    pruner: Annotated[
        str | None,
        typer.Option(
            help=f"{', '.join(PRUNERS)} (default: median, after 2 epochs and 5 trials)",
            autocompletion=_choices(PRUNERS),
        ),
    ] = None,
    trials: Annotated[
        int | None,
        typer.Option(help="Total trials (default: suited to the data set; grid: its size)"),
    ] = None,
    epochs: Annotated[
        int | None,
        typer.Option(help="The most epochs a trial trains (default: suited to the data set)"),
    ] = None,
    param: Annotated[
        list[str] | None,
        typer.Option(
            "--param",
            metavar="NAME=VALUE",
            help="A hyperparameter (repeatable): depth=2, learning_rate=0.1,0.01,0.001, "
            "learning_rate=1e-4..1e-1:log, beta_2=0.99..0.9995:log1m, add :num=N or :step=S to "
            "a range. Default: the lesson's space (grid: its 3x3 grid of α and β1)",
        ),
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Where to write it (default: studies/NAME.yaml)")
    ] = None,
    force: Annotated[bool, typer.Option(help="Overwrite the file if it exists")] = False,
) -> None:
    """Write a study file from these options, checked by the rules of `validate` first."""
    from automl.newstudy import study_raw, write_study

    path = out if out is not None else Path("studies") / f"{name}.yaml"
    raw = study_raw(name, dataset, sampler, pruner, trials, epochs, param)
    _show_spec(write_study(path, raw, force=force), f"wrote {path}")
    typer.echo(f"run it: automl run {path}")


@app.command()
@user_errors
def studies(storage: StorageOpt = None) -> None:
    """List the studies in a storage: trials by state, best value, last activity."""
    from automl.results import format_studies, list_studies
    from automl.storage import default_storage

    url = storage or default_storage()
    for line in format_studies(list_studies(url), url):
        typer.echo(line)


@app.command()
@user_errors
def best(
    study: StudyName,
    storage: StorageOpt = None,
    top: Annotated[int, typer.Option(min=1, help="How many of the best trials to list")] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
) -> None:
    """The best trial's value, hyperparameters, seed and MLflow run, and the top trials."""
    import json

    from automl.results import best_report, format_best
    from automl.storage import default_storage

    report = best_report(storage or default_storage(), study, top=top)
    if as_json:
        typer.echo(json.dumps(report.as_json(), indent=2, default=str))
        return
    for line in format_best(report):
        typer.echo(line)


@app.command()
@user_errors
def report(
    study: StudyName,
    storage: StorageOpt = None,
    out: Annotated[Path, typer.Option(help="Folder to write <study>.html into")] = Path("."),
    tracking_uri: TrackingOpt = None,
) -> None:
    """Write a self-contained HTML report with plots (opens offline); log it to MLflow."""
    from automl.report import write_report
    from automl.storage import default_storage
    from automl.tracking import default_tracking_uri

    written = write_report(
        storage or default_storage(), study, out, tracking_uri or default_tracking_uri()
    )
    typer.echo(f"wrote {written.path} ({len(written.figures)} figures)")
    if written.batch_norm is not None:
        typer.echo(written.batch_norm.summary)
    for note in written.notes:
        typer.echo(f"  not shown: {note}")
    typer.echo(written.mlflow)


@app.command()
@user_errors
def export(
    study: StudyName,
    out: Annotated[Path, typer.Option(help="The model file to write, e.g. best.keras")],
    storage: StorageOpt = None,
    tracking_uri: TrackingOpt = None,
    retrain: Annotated[
        bool, typer.Option(help="Train the best trial again even if its model was saved")
    ] = False,
) -> None:
    """Write the best trial's model (a .keras file) and a JSON description beside it."""
    from automl.export import export_best
    from automl.storage import default_storage
    from automl.tracking import default_tracking_uri

    e = export_best(
        storage or default_storage(),
        study,
        out,
        tracking_uri or default_tracking_uri(),
        retrain=retrain,
    )
    typer.echo(f"trial {e.trial} ({e.metric} {e.trial_value:.4f}): {e.source}: {e.why}")
    if e.reproduced_value is not None:
        typer.echo(
            f"  retrained with seed {e.seed}: {e.metric} {e.reproduced_value:.4f} "
            f"(gap {e.gap:.4f} to the trial's)"
        )
    typer.echo(f"  the written model scores val_accuracy {e.val_accuracy:.4f}")
    typer.echo(f"wrote {e.model_path} and {e.info_path}")


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
    # Optuna flags heartbeats and some pruners as experimental on every use; users can't act
    # on that, so keep it out of their terminal.
    warnings.filterwarnings("ignore", message=r".*is (an )?experimental")
    app(prog_name="automl")


if __name__ == "__main__":
    main()
