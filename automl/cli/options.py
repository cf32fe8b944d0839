"""The command line's arguments and options, their shell completions, and `user_errors`.

Every option a command takes is declared here once, with its help text; completions offer
names from spec's tables, so those tables stay the one list of names. Nothing here reads a
storage: completing a study name does, so `app.py` hands that lister in behind its lazy
boundary.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from typer.core import TyperCommand, TyperGroup

from automl.errors import AutomlError
from automl.spec.schema import DATASETS, PARAMS, PRUNERS, SAMPLERS, TOP_LEVEL

F = TypeVar("F", bound=Callable[..., Any])
Completion = Callable[[str], list[str]]

# MLflow's defaults start several server workers, a job runner and its consumers; one worker
# without the job runner serves one person's browser in a fraction of the memory.
MLFLOW_WORKERS = 1


def _plain_help(params: list[Any]) -> list[Any]:
    """A flag shows no `<bool>` beside its name: it takes no value."""
    for param in params:
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""
    return params


class Command(TyperCommand):
    """A command whose help lists flags without a type and arguments by their metavar."""

    def get_params(self, ctx: Any) -> list[Any]:
        return _plain_help(super().get_params(ctx))

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        # Typer writes a required argument as {name}; the usage line shows it as STUDY_FILE.
        return [p[1:-1] if p.startswith("{") else p for p in super().collect_usage_pieces(ctx)]


class Group(TyperGroup):
    """The `automl` command group, its help plain as its commands'."""

    def get_params(self, ctx: Any) -> list[Any]:
        return _plain_help(super().get_params(ctx))


class App(typer.Typer):
    """typer.Typer whose group and commands are `Group` and `Command`."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(cls=Group, **kwargs)

    def command(self, *args: Any, **kwargs: Any) -> Any:
        return super().command(*args, cls=Command, **kwargs)


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


def complete_set(incomplete: str, study_names: Callable[[], list[str]]) -> list[str]:
    """--set: the fields of a study file as KEY=, and `study_names()` after name=."""
    if incomplete.startswith("name="):
        typed = incomplete.removeprefix("name=")
        return [f"name={n}" for n in sorted(study_names()) if n.startswith(typed)]
    keys = [f"{k}=" for k in TOP_LEVEL if k != "params"] + [f"params.{p}=" for p in PARAMS]
    return [k for k in keys if k.startswith(incomplete)]


def choices(names: Iterable[str]) -> Completion:
    """Completion from one of spec's tables."""
    return lambda incomplete: [n for n in names if n.startswith(incomplete)]


def set_option(completion: Completion) -> Any:
    """--set KEY=VALUE; its completion reads the storage, so `app.py` supplies it."""
    return typer.Option(
        "--set",
        metavar="KEY=VALUE",
        help="Override a field of the file for this command (repeatable): epochs=3, "
        "name=other, sampler.seed=1, params.learning_rate=1e-4..1e-1:log (the --param syntax "
        "of `automl new`)",
        autocompletion=completion,
    )


def gpu_ids(gpus: str | None) -> list[str] | None:
    """--gpus 0,1 as a list of ids; None (all GPUs) when the option is not given."""
    if gpus is None:
        return None
    return [g.strip() for g in gpus.split(",") if g.strip()]


# ---------------------------------------------------------------------------- shared

SpecPath = Annotated[
    Path,
    typer.Argument(
        metavar="STUDY_FILE",
        help="A study file (YAML), e.g. studies/digits_quick.yaml",
        autocompletion=complete_spec_files,
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
StudyName = Annotated[
    str, typer.Argument(metavar="STUDY", help="The study's name (see `automl studies`)")
]

# ---------------------------------------------------------------------------- run

TrialsOpt = Annotated[
    int | None, typer.Option(min=1, help="Total trials for the study (all workers)")
]
WorkersOpt = Annotated[
    int, typer.Option(min=1, help="Worker processes on this machine (with --ray: on the cluster)")
]
GpusOpt = Annotated[
    str | None, typer.Option(help="GPU ids to spread workers over, e.g. 0,1 (default: all)")
]
RayOpt = Annotated[
    str | None,
    typer.Option(
        "--ray",
        metavar="ADDRESS",
        help="Run the workers as actors on a Ray cluster: auto, HOST:PORT or ray://HOST:10001 "
        "(needs automl\\[ray], PostgreSQL and an MLflow server)",
    ),
]
CpusPerWorkerOpt = Annotated[
    float | None,
    typer.Option(min=0.01, metavar="N", help="With --ray: CPUs per worker (default: 1)"),
]
GpusPerWorkerOpt = Annotated[
    float | None, typer.Option(min=0, metavar="N", help="With --ray: GPUs per worker (default: 0)")
]

# ---------------------------------------------------------------------------- new

NameArg = Annotated[
    str, typer.Argument(metavar="NAME", help="The study's name (its Optuna study name)")
]
DatasetOpt = Annotated[
    str,
    typer.Option(
        help=f"{', '.join(d for d in DATASETS if d not in ('folder', 'npz'))}, an .npz "
        "file, or a folder with one folder of images per class",
        autocompletion=choices(DATASETS),
    ),
]
SamplerOpt = Annotated[
    str, typer.Option(help=", ".join(SAMPLERS), autocompletion=choices(SAMPLERS))
]
PrunerOpt = Annotated[
    str | None,
    typer.Option(
        help=f"{', '.join(PRUNERS)} (default: median, after 2 epochs and 5 trials)",
        autocompletion=choices(PRUNERS),
    ),
]
NewTrialsOpt = Annotated[
    int | None,
    typer.Option(help="Total trials (default: suited to the data set; grid: its size)"),
]
NewEpochsOpt = Annotated[
    int | None,
    typer.Option(help="The most epochs a trial trains (default: suited to the data set)"),
]
ParamOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--param",
        metavar="NAME=VALUE",
        help="A hyperparameter (repeatable): depth=2, learning_rate=0.1,0.01,0.001, "
        "learning_rate=1e-4..1e-1:log, beta_2=0.99..0.9995:log1m, add :num=N or :step=S to "
        "a range. Default: the lesson's space (grid: its 3x3 grid of α and β1)",
    ),
]
NewOutOpt = Annotated[
    Path | None, typer.Option(help="Where to write it (default: studies/NAME.yaml)")
]
ForceOpt = Annotated[bool, typer.Option(help="Overwrite the file if it exists")]

# ---------------------------------------------------------------------------- results

TopOpt = Annotated[int, typer.Option(min=1, help="How many of the best trials to list")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object")]
ReportOutOpt = Annotated[Path, typer.Option(help="Folder to write <study>.html into")]
ModelOutOpt = Annotated[Path, typer.Option(help="The model file to write, e.g. best.keras")]
RetrainOpt = Annotated[
    bool, typer.Option(help="Train the best trial again even if its model was saved")
]
OverwriteOpt = Annotated[
    bool, typer.Option(help="Overwrite the model file and its .json if they exist")
]

# ---------------------------------------------------------------------------- servers

HostOpt = Annotated[
    str,
    typer.Option(
        help="Interface to listen on. Beyond 127.0.0.1 anyone who reaches it can read and change "
        "your studies: put a reverse proxy with authentication in front"
    ),
]
PortOpt = Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on")]
ArtifactDirOpt = Annotated[
    Path | None,
    typer.Option(
        help="Optuna artifact folder (learning curves). Default: $AUTOML_ARTIFACTS, else "
        "automl-artifacts beside the storage file"
    ),
]
ServerWorkersOpt = Annotated[
    int, typer.Option(min=1, help="Server worker processes (each ~250 MB)")
]
