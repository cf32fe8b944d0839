"""docker-compose.yml against the real command lines it calls (no Docker engine here).

The static tests read the compose file as Docker would (its ${VAR} interpolated from
.env.example) and check every service's command against the real CLI it names. The slow
one runs the same stack natively: the mlflow and optuna-dashboard commands as written, on
the test PostgreSQL server, and two `worker` services racing on one study.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import optuna
import pytest
import typer
import yaml

from automl.cli.app import app
from automl.spec.reading import load_spec
from tests.processes import REPO, postgres_url, study_file

PASSWORD = "s3cret"  # stands in for the value a user writes into .env


def dotenv(path: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {k.strip(): v.strip() for k, v in pairs if not k.lstrip().startswith("#")}


def interpolate(value: Any, env: dict[str, str]) -> Any:
    """Compose's ${VAR}, ${VAR:-default} and ${VAR:?error} (and $$), recursively."""
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def one(match: re.Match[str]) -> str:
        name, op, arg = match.group(1), match.group(2), match.group(3)
        found = env.get(name, "")
        if op == ":?" and not found:
            raise KeyError(f"{name}: {arg}")
        return found or (arg if op == ":-" else "")

    text = re.sub(r"\$\{(\w+)(?:(:-|:\?)([^}]*))?\}", one, value)
    return text.replace("$$", "$")


@pytest.fixture(scope="module")
def env() -> dict[str, str]:
    values = dotenv(REPO / ".env.example")
    assert values["POSTGRES_PASSWORD"] == "", ".env.example must not carry a password"
    return {**values, "POSTGRES_PASSWORD": PASSWORD}


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def services(raw, env) -> dict[str, Any]:
    return interpolate(raw, env)["services"]


def option_names(command: list[str]) -> set[str]:
    return {a.split("=", 1)[0] for a in command if a.startswith("--")}


def value_of(command: list[str], option: str) -> str:
    return command[command.index(option) + 1]


def test_the_stack_has_its_services(services):
    assert set(services) == {"postgres", "mlflow", "dashboard", "worker"}


def test_ports_are_published_on_loopback_only(services):
    published = [p for s in services.values() for p in s.get("ports", [])]
    assert published, "the UIs are reachable from the host"
    assert all(str(p).startswith("127.0.0.1:") for p in published), published


def test_passwords_come_from_env_only(raw, env):
    text = (REPO / "docker-compose.yml").read_text()
    assert PASSWORD not in text
    assert "${POSTGRES_PASSWORD" in text
    with pytest.raises(KeyError, match="POSTGRES_PASSWORD"):  # unset: compose refuses to start
        interpolate(raw, {**env, "POSTGRES_PASSWORD": ""})
    assert ".env" in (REPO / ".gitignore").read_text().split()


def test_no_password_is_on_a_command_line(services):
    """`ps` shows every user a process's arguments: passwords go in the environment."""
    for name, service in services.items():
        command = service.get("command", [])
        assert not any(PASSWORD in str(a) for a in command), (name, command)


def test_postgres_keeps_its_data_and_reports_health(raw, services):
    pg = services["postgres"]
    assert pg["healthcheck"]["test"]
    assert "postgres-data:/var/lib/postgresql/data" in pg["volumes"]
    assert "postgres-data" in raw["volumes"]
    assert pg["environment"]["POSTGRES_PASSWORD"] == PASSWORD


def test_mlflow_server_uses_real_flags_postgres_and_an_artifact_volume(raw, services):
    from mlflow.cli import cli
    from mlflow.server.security_utils import is_allowed_host_header

    mlflow = services["mlflow"]
    command = mlflow["command"]
    assert command[:2] == ["mlflow", "server"]
    real = {o for p in cli.commands["server"].params for o in p.opts + p.secondary_opts}
    assert option_names(command) <= real, option_names(command) - real
    assert value_of(command, "--workers") == "1"
    assert mlflow["environment"]["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] == "false"
    assert "--backend-store-uri" not in command  # MLFLOW_BACKEND_STORE_URI: off `ps`
    backend = urlsplit(mlflow["environment"]["MLFLOW_BACKEND_STORE_URI"])
    assert backend.scheme == "postgresql" and backend.hostname == "postgres"
    assert backend.password == PASSWORD
    # Its own database (Optuna's and MLflow's Alembic tables would collide), created at init.
    optuna_db = urlsplit(services["worker"]["environment"]["AUTOML_STORAGE"]).path
    assert backend.path != optuna_db
    init = next(v for v in services["postgres"]["volumes"] if "docker-entrypoint-initdb.d" in v)
    sql = (REPO / init.split(":")[0]).read_text()
    assert f"CREATE DATABASE {backend.path.strip('/')}" in sql
    destination = value_of(command, "--artifacts-destination")
    assert f"mlflow-artifacts:{destination}" in mlflow["volumes"]
    assert "mlflow-artifacts" in raw["volumes"]
    # The host guard lets workers (Host: mlflow:5000) and the published port through.
    hosts = value_of(command, "--allowed-hosts").split(",")
    worker_uri = urlsplit(services["worker"]["environment"]["MLFLOW_TRACKING_URI"])
    assert is_allowed_host_header(hosts, worker_uri.netloc)
    assert is_allowed_host_header(
        hosts, f"127.0.0.1:{services['mlflow']['ports'][0].split(':')[1]}"
    )
    assert worker_uri.hostname == "mlflow" and str(worker_uri.port) == value_of(command, "--port")


def test_dashboard_uses_real_flags_on_the_workers_storage(services):
    dashboard = services["dashboard"]
    command = dashboard["command"]
    assert command[:3] == ["python", "-m", "automl.cli.dashboard_server"]  # the Host guard
    help_text = subprocess.run(
        [sys.executable, *command[1:3], "--help"], capture_output=True, text=True, check=True
    ).stdout
    real = set(re.findall(r"--[a-z][a-z-]*", help_text))
    assert option_names(command) <= real, option_names(command) - real
    assert (
        dashboard["environment"]["AUTOML_STORAGE"]
        == (services["worker"]["environment"]["AUTOML_STORAGE"])
    )


def test_worker_runs_a_real_study_file_with_real_options(services, env, monkeypatch):
    worker = services["worker"]
    command = worker["command"]
    assert command[:2] == ["automl", "run"]
    run = typer.main.get_command(app).commands["run"]  # type: ignore[attr-defined]
    real = {o for p in run.params for o in p.opts}
    assert option_names(command) <= real, option_names(command) - real
    study = REPO / command[2]
    assert study.is_file(), study
    load_spec(study)  # the default study file is valid
    # Scalable: no fixed name, no published port.
    assert "container_name" not in worker and "ports" not in worker
    # The variables it sets are the ones automl reads.
    from automl.uris import default_storage, default_tracking_uri

    for name, value in worker["environment"].items():
        monkeypatch.setenv(name, value)
    assert default_storage() == worker["environment"]["AUTOML_STORAGE"]
    assert default_tracking_uri() == worker["environment"]["MLFLOW_TRACKING_URI"]
    assert urlsplit(default_storage()).hostname == "postgres"


def test_the_image_holds_what_the_services_run(raw):
    dockerfile = (REPO / "Dockerfile").read_text()
    assert "pip install ." in dockerfile  # automl, and with it mlflow and optuna-dashboard
    assert all(raw["services"][s]["image"] == "automl:latest" for s in ("mlflow", "worker"))
    assert raw["services"]["mlflow"]["build"] == "."
    workdir = re.findall(r"^WORKDIR (\S+)", dockerfile, re.M)[-1]
    volume = next(v for v in raw["services"]["worker"]["volumes"] if v.startswith("./studies"))
    assert volume.split(":")[1] == f"{workdir}/studies"


# ---- The same stack, natively ----------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{database}"))


def _wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float = 90) -> None:
    end = time.time() + timeout
    while time.time() < end:
        if proc.poll() is not None:
            raise AssertionError(f"{proc.args!r} exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"{url} did not answer in {timeout} s")


def _set(command: list[str], option: str, value: str) -> list[str]:
    out = list(command)
    out[out.index(option) + 1] = value
    return out


@pytest.mark.slow
@pytest.mark.postgres
def test_the_stack_runs_natively(services, tmp_path):
    """mlflow and optuna-dashboard as the compose file starts them, on the test PostgreSQL
    (hosts and ports moved to loopback), and `--scale worker=2` as two worker commands."""
    import psycopg
    from mlflow import MlflowClient

    server = postgres_url()
    # Databases of its own, as the compose stack has: the shared test database holds other
    # tests' tables, which optuna-dashboard's schema check may refuse.
    mlflow_db, optuna_db = (f"{kind}_{uuid.uuid4().hex[:8]}" for kind in ("mlflow", "optuna"))
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {mlflow_db}")
        conn.execute(f"CREATE DATABASE {optuna_db}")
    url = _with_database(server, optuna_db)
    # The first `automl run` makes Optuna's tables; optuna-dashboard only opens them (compose
    # restarts it until they exist): make them before it starts.
    optuna.storages.RDBStorage(url)
    bin_dir = Path(sys.executable).parent
    procs: list[subprocess.Popen[bytes]] = []

    def start(command: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        command = [str(bin_dir / command[0]), *command[1:]]
        proc = subprocess.Popen(
            command,
            cwd=tmp_path,
            env={**os.environ, **env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        procs.append(proc)
        return proc

    try:
        mlflow_port, dashboard_port = _free_port(), _free_port()
        command = services["mlflow"]["command"]
        command = _set(command, "--host", "127.0.0.1")
        command = _set(command, "--port", str(mlflow_port))
        command = _set(command, "--artifacts-destination", str(tmp_path / "mlartifacts"))
        backend = {"MLFLOW_BACKEND_STORE_URI": _with_database(server, mlflow_db)}
        mlflow = start(command, {**services["mlflow"]["environment"], **backend})
        dashboard_command = _set(services["dashboard"]["command"], "--host", "127.0.0.1")
        dashboard_command = _set(dashboard_command, "--port", str(dashboard_port))
        dashboard = start(dashboard_command, {"AUTOML_STORAGE": url, "PYTHONPATH": str(REPO)})
        tracking = f"http://127.0.0.1:{mlflow_port}"
        _wait_http(f"{tracking}/health", mlflow)
        _wait_http(f"http://127.0.0.1:{dashboard_port}/api/studies", dashboard)

        name = f"stack-{uuid.uuid4().hex[:8]}"
        spec = study_file(tmp_path, name, sampler="random", trials=3)
        worker = services["worker"]
        command = [*worker["command"][:2], str(spec), *worker["command"][3:]]
        env = {**worker["environment"], "AUTOML_STORAGE": url, "MLFLOW_TRACKING_URI": tracking}
        env["PYTHONPATH"] = str(REPO)
        workers = [start(command, env) for _ in range(2)]
        for proc in workers:
            assert proc.wait(timeout=240) == 0

        with urllib.request.urlopen(f"http://127.0.0.1:{dashboard_port}/api/studies") as r:
            assert name in r.read().decode()
        client = MlflowClient(tracking)
        experiment = client.get_experiment_by_name(name)
        assert experiment is not None
        runs = client.search_runs([experiment.experiment_id])
        parents = [r for r in runs if r.data.tags.get("automl.role") == "study"]
        trial_runs = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
        assert len(parents) == 1, "two workers starting together made one parent run"
        assert parents[0].info.status == "FINISHED"
        assert sorted(r.info.status for r in trial_runs) == ["FINISHED"] * 3
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
