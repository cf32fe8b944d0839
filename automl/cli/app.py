"""The `automl` command line, and automl's one lazy import boundary.

Each command parses its arguments, calls the one function that does its work, prints what it
returns and exits; the options themselves are declared in `automl.cli.options`. Each command
imports the package that does its work inside its body, and so does the completion of a
study name, so `automl --help`, `validate`, `new`, `studies` and `best` never import
TensorFlow, Keras or MLflow (tests/test_cli_app.py checks it). Everywhere else in automl,
imports sit at the top of their module, but for Ray's (`automl.cli.cluster`, only with --ray).
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated

import typer

from automl.cli.cluster import made_now, ray_placement
from automl.cli.options import (
    MLFLOW_WORKERS,
    App,
    ArtifactDirOpt,
    CpusPerWorkerOpt,
    DatasetOpt,
    ForceOpt,
    GpusOpt,
    GpusPerWorkerOpt,
    HostOpt,
    JsonOpt,
    ModelOutOpt,
    NameArg,
    NewEpochsOpt,
    NewOutOpt,
    NewTrialsOpt,
    OverwriteOpt,
    ParamOpt,
    PortOpt,
    PrunerOpt,
    RayOpt,
    ReportOutOpt,
    RetrainOpt,
    SamplerOpt,
    ServerWorkersOpt,
    SpecPath,
    StorageOpt,
    StudyName,
    TopOpt,
    TrackingOpt,
    TrialsOpt,
    WorkersOpt,
    complete_set,
    gpu_ids,
    set_option,
    user_errors,
)
from automl.spec.overrides import parse_sets
from automl.spec.reading import load_spec
from automl.uris import (
    DASHBOARD_PORT,
    LOOPBACK,
    MLFLOW_PORT,
    default_storage,
    default_tracking_uri,
)

app = App(
    name="automl",
    help="Optuna-driven AutoML for Keras CNNs: run studies, watch them, keep the best model.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
)


def _study_names() -> list[str]:
    """The default storage's studies, for `--set name=` completion: reading them needs Optuna,
    so, as in a command, the import waits until a shell asks."""
    from automl.results.query import local_study_names

    return local_study_names(default_storage())


def _complete_set(incomplete: str) -> list[str]:
    return complete_set(incomplete, _study_names)


SetOpt = Annotated[list[str] | None, set_option(_complete_set)]


def _echo(lines: Iterable[str]) -> None:
    for line in lines:
        typer.echo(line)


@app.command()
@user_errors
def run(
    spec_path: SpecPath,
    set_: SetOpt = None,
    storage: StorageOpt = None,
    trials: TrialsOpt = None,
    workers: WorkersOpt = 1,
    tracking_uri: TrackingOpt = None,
    gpus: GpusOpt = None,
    ray: RayOpt = None,
    cpus_per_worker: CpusPerWorkerOpt = None,
    gpus_per_worker: GpusPerWorkerOpt = None,
) -> None:
    """Create the study (or join it) and run it until its budget of trials is met."""
    from automl.cli.progress import Progress
    from automl.results.text import format_run
    from automl.run.study import budget, finished_result

    spec = load_spec(spec_path, parse_sets(set_ or []))
    url = storage or default_storage()
    tracking = tracking_uri or default_tracking_uri()
    placement = ray_placement(ray, cpus_per_worker, gpus_per_worker, gpus, url, tracking, workers)
    # A finished study is told in a second: the supervisor imports MLflow.
    result = finished_result(spec, url, budget(spec, trials))
    if result is None:
        # The fork server (or each Ray actor's) imports TensorFlow while the supervisor imports
        # MLflow and sets up.
        if placement is None:
            from automl.run.processes import worker_context

            worker_context(tracking)
        else:
            placement = made_now(placement)
        from automl.run.supervisor import run_study

        result = run_study(
            spec,
            url,
            tracking,
            workers=workers,
            trials=trials,
            gpus=gpu_ids(gpus),
            progress=Progress(),
            placement=placement,
        )
    if result.finished_before:
        typer.echo(f"study {spec.name} is finished: nothing to run (--trials N raises its budget)")
    _echo(format_run(result, spec.metric))
    if result.interrupted:
        typer.echo("interrupted: run the same command again to resume", err=True)
        raise typer.Exit(130)


@app.command()
@user_errors
def validate(spec_path: SpecPath, set_: SetOpt = None) -> None:
    """Check a study file and print the search space it resolves to (imports no TensorFlow)."""
    from automl.data.dataset import check_dataset
    from automl.results.text import spec_summary
    from automl.search.factories import check_requirements

    spec = load_spec(spec_path, parse_sets(set_ or []))
    check_requirements(spec)
    data = check_dataset(spec.dataset, fetch=False)
    _echo([*spec_summary(spec, "ok"), f"data: {data}"])


@app.command()
@user_errors
def new(
    name: NameArg,
    dataset: DatasetOpt = "digits",
    sampler: SamplerOpt = "tpe",
    pruner: PrunerOpt = None,
    trials: NewTrialsOpt = None,
    epochs: NewEpochsOpt = None,
    param: ParamOpt = None,
    out: NewOutOpt = None,
    force: ForceOpt = False,
) -> None:
    """Write a study file from these options, checked by the rules of `validate` first."""
    from automl.cli.scaffold import new_study
    from automl.results.text import spec_summary

    path, spec = new_study(name, dataset, sampler, pruner, trials, epochs, param, out, force)
    _echo([*spec_summary(spec, f"wrote {path}"), f"run it: automl run {path}"])


@app.command()
@user_errors
def studies(storage: StorageOpt = None) -> None:
    """List the studies in a storage: trials by state, best value, last activity."""
    from automl.results.query import list_studies
    from automl.results.text import format_studies

    url = storage or default_storage()
    _echo(format_studies(list_studies(url), url))


@app.command()
@user_errors
def best(
    study: StudyName, storage: StorageOpt = None, top: TopOpt = 5, as_json: JsonOpt = False
) -> None:
    """The best trial's value, hyperparameters, seed and MLflow run, and the top trials."""
    from automl.results.query import best_report
    from automl.results.text import format_best

    report = best_report(storage or default_storage(), study, top=top)
    if as_json:
        typer.echo(json.dumps(report.as_json(), indent=2, default=str))
    else:
        _echo(format_best(report))


@app.command()
@user_errors
def report(
    study: StudyName,
    storage: StorageOpt = None,
    out: ReportOutOpt = Path("."),
    tracking_uri: TrackingOpt = None,
) -> None:
    """Write a self-contained HTML report with plots (opens offline); log it to MLflow."""
    from automl.report.page import write_report

    written = write_report(
        storage or default_storage(), study, out, tracking_uri or default_tracking_uri()
    )
    _echo(written.lines())


@app.command()
@user_errors
def export(
    study: StudyName,
    out: ModelOutOpt,
    storage: StorageOpt = None,
    tracking_uri: TrackingOpt = None,
    retrain: RetrainOpt = False,
    force: OverwriteOpt = False,
) -> None:
    """Write the best trial's model (a .keras file) and a JSON description beside it."""
    from automl.backend import load_keras

    load_keras()  # before the export's imports reach Keras, so TensorFlow's notices stay quiet
    from automl.results.export import export_best

    exported = export_best(
        storage or default_storage(),
        study,
        out,
        tracking_uri or default_tracking_uri(),
        retrain,
        force,
    )
    _echo(exported.lines())


@app.command()
@user_errors
def dashboard(
    storage: StorageOpt = None,
    host: HostOpt = LOOPBACK,
    port: PortOpt = DASHBOARD_PORT,
    artifact_dir: ArtifactDirOpt = None,
) -> None:
    """Serve optuna-dashboard on the study storage, with the trials' plots, until Ctrl-C."""
    from automl.cli.servers import dashboard as serve_dashboard

    serve_dashboard(storage, host, port, artifact_dir, echo=typer.echo)


@app.command("mlflow-ui")
@user_errors
def mlflow_ui(
    tracking_uri: TrackingOpt = None,
    host: HostOpt = LOOPBACK,
    port: PortOpt = MLFLOW_PORT,
    workers: ServerWorkersOpt = MLFLOW_WORKERS,
) -> None:
    """Serve the MLflow UI on the tracking store `automl run` writes to, until Ctrl-C."""
    from automl.cli.servers import mlflow_ui as serve_mlflow_ui

    serve_mlflow_ui(tracking_uri, host, port, workers, echo=typer.echo)


def main() -> None:
    """The `automl` entry point."""
    # Optuna flags heartbeats and some pruners as experimental on every use; users can't act
    # on that, so keep it out of their terminal.
    warnings.filterwarnings("ignore", message=r".*is (an )?experimental")
    # MLflow's notices (its tables created, a download's progress bar) would land among
    # automl's lines, in this process and the workers it starts; its warnings still show.
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    app(prog_name="automl")


if __name__ == "__main__":
    main()
