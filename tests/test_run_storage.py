"""Storages from one string, and the study lock that keeps racing workers to the budget."""

from __future__ import annotations

import contextlib
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest
from typer.testing import CliRunner

from automl.cli.app import app
from automl.errors import StorageError
from automl.run.storage import StudyLock, open_storage
from automl.uris import local_file
from tests.processes import environment, postgres_url

# Each racer does what a worker does between trials: under the lock, count the budget and
# start a trial; then "train" a moment and finish it.
RACER = """
import sys, time
import optuna
from automl.run.storage import StudyLock, open_storage
from automl.run.study import work_left
storage, name, budget = sys.argv[1], sys.argv[2], int(sys.argv[3])
backend = open_storage(storage)
study = optuna.load_study(study_name=name, storage=backend)
lock = StudyLock(storage, name)
while True:
    with lock:
        if work_left(study.get_trials(deepcopy=False), budget) <= 0:
            break
        trial = study.ask()
    time.sleep(0.02)
    study.tell(trial, 0.0)
"""
HOLDER = """
import sys, time
from automl.run.storage import StudyLock
storage, name = sys.argv[1], sys.argv[2]
with StudyLock(storage, name):
    print("held", flush=True)
    time.sleep(600)
"""


def test_storage_strings_name_their_file():
    assert local_file("runs/a.journal") == Path("runs/a.journal")
    assert local_file("sqlite:///a.db") == Path("a.db")
    assert local_file("sqlite:////tmp/a.db") == Path("/tmp/a.db")
    assert local_file("sqlite:///:memory:") is None
    assert local_file("postgresql://u@h/db") is None


def test_a_journal_in_a_missing_folder_is_refused(tmp_path):
    with pytest.raises(StorageError, match="folder .* does not exist"):
        open_storage(str(tmp_path / "nowhere" / "s.journal"))


@pytest.fixture(params=["journal", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def storage(request, tmp_path) -> str:
    if request.param == "journal":
        return str(tmp_path / "s.journal")
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 's.db'}"
    return postgres_url()


def test_racing_workers_start_exactly_the_budget(storage, tmp_path):
    name = f"race-{uuid.uuid4().hex[:8]}"
    optuna.create_study(study_name=name, storage=open_storage(storage))
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, storage, name, "20"], env=environment(tmp_path)
        )
        for _ in range(4)
    ]
    assert [r.wait(timeout=120) for r in racers] == [0, 0, 0, 0]
    all_trials = optuna.load_study(study_name=name, storage=open_storage(storage)).get_trials()
    assert len(all_trials) == 20
    assert {t.state.name for t in all_trials} == {"COMPLETE"}


def test_the_lock_of_a_killed_holder_is_free_at_once(storage, tmp_path):
    name = f"lock-{uuid.uuid4().hex[:8]}"
    open_storage(storage)  # creates the file or tables
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, storage, name],
        env=environment(tmp_path),
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline() == "held\n"
    taken = threading.Event()

    def take() -> None:
        with StudyLock(storage, name):
            taken.set()

    waiter = threading.Thread(target=take, daemon=True)
    waiter.start()
    assert not taken.wait(0.5), "the lock let a second holder in"
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    assert taken.wait(15), "the killed holder's lock was not released"
    waiter.join()


# ---- Places a run cannot write: refused before the study or a worker exists -------------

SPEC = "name: s\ndataset: digits\nepochs: 1\ntrials: 1\nparams:\n  width: 4\n  depth: 1\n"


@contextlib.contextmanager
def _immutable(path: Path) -> Iterator[None]:
    """`chattr +i`: a file or folder that even root cannot write (chmod does not stop root)."""
    if shutil.which("chattr") is None:
        pytest.skip("chattr is not installed")
    made = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"chattr +i is not allowed here: {made.stderr.strip()}")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


def _listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def _one_error_line(workdir: Path, *options: str, env: dict[str, str] | None = None) -> str:
    """`automl run` on a tiny study: exit 2, one line, within seconds, nothing created."""
    before = _listing(workdir)
    started = time.monotonic()
    result = CliRunner().invoke(app, ["run", str(workdir / "s.yaml"), *options], env=env)
    assert time.monotonic() - started < 30
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    (line,) = result.output.strip().splitlines()
    assert _listing(workdir) == before
    return line


@pytest.mark.parametrize(
    ("place", "expected"),
    [
        (
            "a journal under a file",
            "error: storage {w}/file/s.journal: folder {w}/file is not a folder",
        ),
        ("a journal that is a folder", "error: storage {w}/sub: is a folder, not a file"),
        (
            "MLflow under a file",
            "error: tracking URI sqlite:///{w}/file/mlflow.db: folder {w}/file is not a folder",
        ),
        (
            "artifacts that are a file",
            "error: artifact folder {w}/file ($AUTOML_ARTIFACTS, else beside the storage): "
            "{w}/file is a file, not a folder",
        ),
        (
            "artifacts under a file",
            "error: artifact folder {w}/file/plots ($AUTOML_ARTIFACTS, else beside the storage): "
            "{w}/file is a file, not a folder",
        ),
    ],
)
def test_a_place_under_a_file_is_one_line_before_anything_is_made(
    workdir: Path, place: str, expected: str
) -> None:
    (workdir / "s.yaml").write_text(SPEC)
    (workdir / "file").write_text("a file\n")
    (workdir / "sub").mkdir()
    options = {
        "a journal under a file": ["--storage", str(workdir / "file" / "s.journal")],
        "a journal that is a folder": ["--storage", str(workdir / "sub")],
        "MLflow under a file": ["--tracking-uri", f"sqlite:///{workdir}/file/mlflow.db"],
    }.get(place, [])
    artifacts = {
        "artifacts that are a file": str(workdir / "file"),
        "artifacts under a file": str(workdir / "file" / "plots"),
    }.get(place)
    env = {"AUTOML_ARTIFACTS": artifacts} if artifacts else None
    assert _one_error_line(workdir, *options, env=env) == expected.format(w=workdir)


@pytest.mark.parametrize(
    "place",
    [
        "the working folder",
        "the journal",
        "the journal's folder",
        "the MLflow folder",
        "the MLflow file",
        "the artifact folder",
        "the folder the artifact folder goes in",
    ],
)
def test_a_read_only_place_is_one_line_before_anything_is_made(workdir: Path, place: str) -> None:
    """Read-only as root too: the place is made immutable (chattr +i)."""
    (workdir / "s.yaml").write_text(SPEC)
    for folder in ("store", "mlflow", "plots"):
        (workdir / folder).mkdir()
    journal = workdir / "store" / "s.journal"
    optuna.create_study(study_name="s", storage=open_storage(str(journal)))
    mlflow_db = workdir / "mlflow" / "mlflow.db"
    sqlite3.connect(mlflow_db).close()
    storage = str(journal)
    target, named = {
        "the working folder": (workdir, "storage automl.journal"),
        "the journal": (journal, f"storage {journal}"),
        "the journal's folder": (journal.parent, f"storage {journal}"),
        "the MLflow folder": (mlflow_db.parent, f"tracking URI sqlite:///{mlflow_db}"),
        "the MLflow file": (mlflow_db, f"tracking URI sqlite:///{mlflow_db}"),
        "the artifact folder": (workdir / "plots", f"artifact folder {workdir / 'plots'}"),
        "the folder the artifact folder goes in": (workdir / "plots", "artifact folder"),
    }[place]
    if place == "the working folder":
        storage = "automl.journal"
    artifacts = str(workdir / "plots" / ("new" if "goes in" in place else ""))
    options = ["--storage", storage, "--tracking-uri", f"sqlite:///{mlflow_db}"]
    with _immutable(target):
        line = _one_error_line(workdir, *options, env={"AUTOML_ARTIFACTS": artifacts})
    assert line.startswith(f"error: {named}")
    assert f"{target}" in line and "Operation not permitted" in line


@pytest.mark.parametrize("command", [["studies"], ["best", "s"]])
def test_readers_read_a_read_only_journal(workdir: Path, command: list[str]) -> None:
    store = workdir / "store"
    store.mkdir()
    journal = store / "s.journal"
    study = optuna.create_study(study_name="s", storage=open_storage(str(journal)))
    study.optimize(lambda t: t.suggest_float("x", 0.0, 1.0), n_trials=2)
    before = journal.read_bytes()
    with _immutable(journal), _immutable(store):
        result = CliRunner().invoke(app, [*command, "--storage", str(journal)])
    assert result.exit_code == 0, result.output
    assert journal.read_bytes() == before and _listing(store) == ["s.journal"]


@pytest.mark.parametrize("torn", [False, True])
def test_a_journal_in_a_read_only_folder_is_read_but_not_run(workdir: Path, torn: bool) -> None:
    (workdir / "s.yaml").write_text(SPEC)
    store = workdir / "store"
    store.mkdir()
    journal = store / "s.journal"
    optuna.create_study(study_name="s", storage=open_storage(str(journal)))
    if torn:
        with journal.open("ab") as f:
            f.write(b'{"op_code":4,"worker_id":"w')
    before = journal.read_bytes()
    with _immutable(store):
        listed = CliRunner().invoke(app, ["studies", "--storage", str(journal)])
        line = _one_error_line(workdir, "--storage", str(journal))
    assert listed.exit_code == 0, listed.output
    assert line.startswith(f"error: storage {journal}: cannot write in {store}")
    assert journal.read_bytes() == before and _listing(store) == ["s.journal"]
