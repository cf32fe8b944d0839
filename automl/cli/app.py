"""The `automl` command line. Each command parses, calls one function, prints, exits.

Heavy imports (TensorFlow, MLflow, Optuna) happen inside the commands that need them, so
`automl --help` and `automl validate` answer at once.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from automl.spec.schema import DATASETS, PRUNERS, SAMPLERS

if TYPE_CHECKING:
    from automl.spec.schema import StudySpec
from automl.cli.options import (
    HostOpt,
    SetOpt,
    SpecPath,
    StorageOpt,
    StudyName,
    TrackingOpt,
    _choices,
    user_errors,
)
from automl.cli.servers import MLFLOW_WORKERS
from automl.uris import DASHBOARD_PORT, LOOPBACK, MLFLOW_PORT

app = typer.Typer(
    name="automl",
    help="Optuna-driven AutoML for Keras CNNs: run studies, watch them, keep the best model.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
)


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
    from automl.cli.progress import Progress
    from automl.results.text import format_hyperparameters
    from automl.run.supervisor import run_study
    from automl.spec.overrides import parse_sets
    from automl.spec.reading import load_spec
    from automl.uris import default_storage, default_tracking_uri

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
    from automl.data.dataset import check_dataset
    from automl.search.factories import check_requirements
    from automl.spec.overrides import parse_sets
    from automl.spec.reading import load_spec

    spec = load_spec(spec_path, parse_sets(set_ or []))
    check_requirements(spec)
    data = check_dataset(spec.dataset, fetch=False)
    _show_spec(spec, "ok")
    typer.echo(f"data: {data}")


def _show_spec(spec: StudySpec, verdict: str) -> None:
    """The study as `validate` and `new` print it: one summary line, one line per parameter."""
    from automl.run.study import budget
    from automl.search.grid import grid_size
    from automl.search.space import describe

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
    from automl.cli.scaffold import study_raw, write_study

    path = out if out is not None else Path("studies") / f"{name}.yaml"
    raw = study_raw(name, dataset, sampler, pruner, trials, epochs, param)
    _show_spec(write_study(path, raw, force=force), f"wrote {path}")
    typer.echo(f"run it: automl run {path}")


@app.command()
@user_errors
def studies(storage: StorageOpt = None) -> None:
    """List the studies in a storage: trials by state, best value, last activity."""
    from automl.results.query import list_studies
    from automl.results.text import format_studies
    from automl.uris import default_storage

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

    from automl.results.query import best_report
    from automl.results.text import format_best
    from automl.uris import default_storage

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
    from automl.report.page import write_report
    from automl.uris import default_storage, default_tracking_uri

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
    from automl.results.export import export_best
    from automl.uris import default_storage, default_tracking_uri

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
    from automl.cli.servers import dashboard as serve_dashboard

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
    from automl.cli.servers import mlflow_ui as serve_mlflow_ui

    serve_mlflow_ui(tracking_uri, host, port, workers, echo=typer.echo)


def main() -> None:
    # Optuna flags heartbeats and some pruners as experimental on every use; users can't act
    # on that, so keep it out of their terminal.
    warnings.filterwarnings("ignore", message=r".*is (an )?experimental")
    app(prog_name="automl")


if __name__ == "__main__":
    main()
