"""Storages from one string, and the study lock that keeps racing workers to the budget."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import optuna
import pytest

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
