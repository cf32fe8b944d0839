"""Workers on many machines share one study in PostgreSQL (the server .ci/run starts).

A second machine is a second `automl run` with its own host name (a UTS namespace), so the
survivor cannot see the dead one's processes and must rely on the database's heartbeat.
"""

from __future__ import annotations

import os
import signal
import subprocess
import uuid

import optuna
import pytest

from automl.run.recovery import GRACE_SECONDS
from automl.run.storage import open_storage
from tests.processes import (
    cells,
    finish,
    live,
    postgres_url,
    start_run,
    study_file,
    training_trial,
    trials,
    wait_for,
)

pytestmark = pytest.mark.postgres

GRID8 = {"learning_rate": [0.03, 0.01, 0.003, 0.001], "width": [8, 16]}


def test_a_plain_postgresql_url_opens_with_psycopg_3():
    url = postgres_url()
    assert url.startswith("postgresql://")
    backend = open_storage(url)
    assert backend.engine.dialect.driver == "psycopg"  # type: ignore[attr-defined]
    name = f"plain-{uuid.uuid4().hex[:8]}"
    study = optuna.create_study(study_name=name, storage=backend)
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    assert len(optuna.load_study(study_name=name, storage=open_storage(url)).trials) == 2


def _can_rename_host() -> bool:
    try:
        return subprocess.run(["unshare", "--uts", "true"], capture_output=True).returncode == 0
    except OSError:
        return False


@pytest.mark.slow
def test_two_machines_share_a_study_and_one_dies_mid_trial(tmp_path):
    url = postgres_url()
    name = f"machines-{uuid.uuid4().hex[:8]}"
    # Trials long enough (~1 s) for the probe below to find one past its first epoch.
    spec = study_file(tmp_path, name, trials=4, epochs=8, grid=GRID8)
    other_machine = _can_rename_host()
    # Machine A: its own host name where this system allows it (root in CI).
    rename = ["unshare", "--uts", "sh", "-c", 'hostname machine-a && exec "$0" "$@"']
    a = start_run(tmp_path, spec, "--storage", url, prefix=rename if other_machine else ())
    b = start_run(tmp_path, spec, "--storage", url)
    host = "machine-a" if other_machine else None
    victim = wait_for("a trial in training on A", lambda: training_trial(url, name, host), a)
    os.killpg(a.pid, signal.SIGKILL)  # the machine dies: its automl run and its worker
    assert finish(a)[0] == -signal.SIGKILL
    code, out = finish(b, timeout=300)
    assert code == 0, out
    all_trials = trials(url, name)
    standing = live(all_trials)
    assert len(standing) == 4 and {t.state.name for t in standing} == {"COMPLETE"}
    assert max(cells(all_trials).values()) == 1  # no configuration ran twice
    killed = next(t for t in all_trials if t.number == victim.number)
    assert killed.state.name == "FAIL"
    if other_machine:
        assert killed.user_attrs["fail_reason"] == (
            f"no heartbeat for {GRACE_SECONDS} s: its worker on machine-a died, stalled or lost "
            "the database; retried with the same parameters"
        )
    else:
        assert "died during the trial; retried" in killed.user_attrs["fail_reason"]
    (retry,) = [t for t in all_trials if killed.number in t.system_attrs.get("retry_history", [])]
    assert retry.state.name == "COMPLETE" and retry.params == killed.params
