"""`automl dashboard` and `automl mlflow-ui`: real servers on real stores, on loopback only,
read over HTTP, stopped cleanly by Ctrl-C or SIGTERM; bad input is one line and exit code 2."""

from __future__ import annotations

import http.client
import json
import signal
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path

import optuna
import pytest
from mlflow import MlflowClient
from typer.testing import CliRunner

from automl.cli.app import app
from tests.ui_servers import free_port, gone, outside_address, port_is_free, served

runner = CliRunner()
STUDY = "ui-study"


def make_study(folder: Path) -> Path:
    """A journal storage with one study of two settled trials (no training needed to view it)."""
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    path = folder / "automl.journal"
    study = optuna.create_study(
        study_name=STUDY,
        storage=JournalStorage(JournalFileBackend(str(path))),
        direction="maximize",
    )
    for x in (0.2, 0.7):
        trial = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
        trial.set_user_attr("mlflow_run_id", f"run-{trial.number}")
        study.tell(trial, x)
    return path


def make_store(folder: Path) -> str:
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    client = MlflowClient(uri)
    experiment = client.create_experiment(STUDY)
    run = client.create_run(experiment, run_name="trial-0", tags={"automl.study": STUDY})
    client.set_terminated(run.info.run_id)
    return uri


def get(url: str, host: str | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers={"Host": host} if host else {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def assert_loopback_only(listening: set[tuple[str, int]], port: int) -> None:
    assert listening == {("127.0.0.1", port)}
    address = outside_address()
    if address is not None:  # and nobody answers on the machine's other addresses
        with pytest.raises(ConnectionRefusedError), socket.create_connection((address, port), 5):
            pass


def test_the_dashboard_serves_the_study_on_loopback_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    storage = make_study(tmp_path)
    port = free_port()
    args = ["dashboard", "--storage", str(storage), "--port", str(port)]
    with served(args, tmp_path / "dashboard.log") as ui:
        assert ui.url == f"http://127.0.0.1:{port}/"
        assert_loopback_only(ui.listening(), port)
        status, body = get(f"{ui.url}api/studies")
        assert status == 200
        (summary,) = json.loads(body)["study_summaries"]
        assert summary["study_name"] == STUDY
        status, body = get(f"{ui.url}api/studies/{summary['study_id']}?after=0")
        trials = json.loads(body)["trials"]
        assert [t["values"] for t in trials] == [[0.2], [0.7]]
        assert trials[1]["user_attrs"] == [{"key": "mlflow_run_id", "value": "run-1"}]
        family = ui.family()
        assert len(family) == 2  # automl and one wsgiref server process
        assert ui.stop(signal.SIGINT) == 0
    assert "optuna-dashboard: stopped" in ui.log.read_text()
    assert gone(family)
    assert port_is_free(port)


def test_the_mlflow_ui_is_light_guarded_on_loopback_and_stops_on_sigterm(tmp_path: Path) -> None:
    uri = make_store(tmp_path)
    port = free_port()
    args = ["mlflow-ui", "--tracking-uri", uri, "--port", str(port)]
    with served(args, tmp_path / "mlflow.log") as ui:
        assert ui.url == f"http://127.0.0.1:{port}/"
        assert_loopback_only(ui.listening(), port)
        family = ui.family()
        assert len(family) == 3  # automl, `mlflow server` and its single uvicorn worker
        status, body = get(
            f"{ui.url}api/2.0/mlflow/experiments/get-by-name?experiment_name={STUDY}"
        )
        assert status == 200 and json.loads(body)["experiment"]["name"] == STUDY
        status, page = get(ui.url)
        assert status == 200 and b"<html" in page.lower()
        # MLflow's DNS-rebinding guard stays on: a foreign Host header is refused.
        status, _ = get(
            f"{ui.url}api/2.0/mlflow/experiments/get-by-name?experiment_name=x", "evil.example"
        )
        assert status == 403
        # A tracking URI that already is a server is not served twice.
        again = runner.invoke(app, ["mlflow-ui", "--tracking-uri", ui.url.rstrip("/")])
        assert again.exit_code == 0 and "already served there" in again.output
        assert ui.stop(signal.SIGTERM) == 0
    assert "MLflow UI: stopped" in ui.log.read_text()
    assert gone(family)
    assert port_is_free(port)


def test_a_port_in_use_is_one_line_and_exit_2(tmp_path: Path) -> None:
    storage = make_study(tmp_path)
    uri = make_store(tmp_path)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        for args in (
            ["dashboard", "--storage", str(storage), "--port", str(port)],
            ["mlflow-ui", "--tracking-uri", uri, "--port", str(port)],
        ):
            started = time.monotonic()
            result = runner.invoke(app, args)
            assert result.exit_code == 2
            assert result.output.splitlines() == [
                f"error: port {port} on 127.0.0.1 is in use; pick another with --port"
            ]
            assert time.monotonic() - started < 30  # refused before any server started


NO_SQLITE = "no such SQLite file"
UNREACHABLE = "cannot be reached"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["dashboard", "--storage", "{tmp}/none.journal"],
            "storage {tmp}/none.journal: no such journal file",
        ),
        (
            ["dashboard", "--storage", "sqlite:///{tmp}/none.db"],
            f"storage sqlite:///{{tmp}}/none.db: {NO_SQLITE}",
        ),
        (
            ["mlflow-ui", "--tracking-uri", "sqlite:///{tmp}/none.db"],
            f"MLflow tracking URI sqlite:///{{tmp}}/none.db: {NO_SQLITE}; run a study here "
            "first, or pass --tracking-uri",
        ),
        (
            ["mlflow-ui", "--tracking-uri", "http://127.0.0.1:{port}"],
            f"MLflow tracking URI http://127.0.0.1:{{port}} {UNREACHABLE}: [Errno 111]",
        ),
        (
            ["mlflow-ui", "--tracking-uri", "postgresql://me:pw@127.0.0.1:{port}/x"],
            f"MLflow tracking URI postgresql://me:***@127.0.0.1:{{port}}/x {UNREACHABLE}: "
            "(psycopg.OperationalError)",
        ),
    ],
)
def test_a_missing_or_unreachable_store_is_one_line_and_exit_2(
    tmp_path: Path, args: list[str], expected: str
) -> None:
    port = free_port()
    args = [a.format(tmp=tmp_path, port=port) for a in args]
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    (line,) = result.output.splitlines()
    assert line.startswith("error: " + expected.format(tmp=tmp_path, port=port))
    assert list(tmp_path.iterdir()) == []  # nothing created on the way


def raw_get(port: int, path: str, host: str | None) -> int:
    """GET with exactly this Host header (None: none at all), as a rebinding page sends it."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.putrequest("GET", path, skip_host=True)
        if host is not None:
            connection.putheader("Host", host)
        connection.endheaders()
        return connection.getresponse().status
    finally:
        connection.close()


def test_the_dashboard_answers_only_its_own_host_names(tmp_path: Path) -> None:
    storage = make_study(tmp_path)
    port = free_port()
    args = ["dashboard", "--storage", str(storage), "--port", str(port)]
    with served(args, tmp_path / "dashboard.log") as ui:
        for host in (f"127.0.0.1:{port}", f"localhost:{port}", "localhost", "[::1]:9000"):
            assert raw_get(port, "/api/studies", host) == 200, host
        assert raw_get(port, "/dashboard", f"LOCALHOST:{port}") == 200
        for host in (
            "evil.example",
            f"evil.example:{port}",
            f"127.0.0.1.evil.example:{port}",
            f"localhost.evil.example:{port}",
            "10.0.0.5:8080",  # an address is allowed only when --host listens everywhere
            "",
            None,
        ):
            assert raw_get(port, "/api/studies", host) == 403, host
            assert raw_get(port, "/dashboard", host) == 403, host
        # The storage reaches the server in its environment, not on its command line.
        (server,) = ui.family()[1:]
        assert str(storage) not in " ".join(server.cmdline())
        assert ui.stop(signal.SIGINT) == 0
