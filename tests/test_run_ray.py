"""`automl run --ray`: workers as actors on a real two-node Ray cluster on this machine (Ray's
own `Cluster`, every process on 127.0.0.1), a real PostgreSQL and a real MLflow server; and the
refusals that come before anything starts.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psutil
import pytest
from typer.testing import CliRunner

from automl.cli.app import app
from automl.uris import LOOPBACK
from tests.processes import (
    REPO,
    SLOW_BATCHES,
    cells,
    finish,
    grid_cells,
    live,
    postgres_url,
    start_run,
    study_file,
    trials,
    wait_for,
)
from tests.ui_servers import Served, free_port, served

# Ray rewrites 127.0.0.1 to the machine's own address unless this is 0 in every Ray process
# (ray/_private/services.py, resolve_ip_for_localhost); Ray's usage report stays off.
# Four cells: two trials a node before one node is lost.
GRID4 = {"learning_rate": [0.03, 0.01], "width": [8, 16]}
RAY_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0"}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Any]]:
    """A head node and a second node, one CPU each; Ray's files (its token too) in a
    temporary home."""
    cluster_utils = pytest.importorskip(
        "ray.cluster_utils", reason="Ray is not installed: pip install -e '.[ray]'"
    )
    home = tmp_path_factory.mktemp("home")
    python_path = os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])
    with pytest.MonkeyPatch.context() as env:
        for name, value in {**RAY_ENV, "HOME": str(home), "PYTHONPATH": python_path}.items():
            env.setenv(name, value)
        head = {"num_cpus": 1, "include_dashboard": False, "node_ip_address": LOOPBACK}
        made = cluster_utils.Cluster(initialize_head=True, connect=False, head_node_args=head)
        try:
            second = made.add_node(num_cpus=1, node_ip_address=LOOPBACK)
            made.wait_for_nodes()
            yield made, second
        finally:
            made.shutdown()


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Future[Served]]:
    """`automl mlflow-ui` on an empty store, started while the cluster starts."""
    from mlflow import MlflowClient

    folder = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    MlflowClient(uri).search_experiments()  # creates its tables
    args = ["mlflow-ui", "--tracking-uri", uri, "--port", str(free_port())]
    with contextlib.ExitStack() as stack, ThreadPoolExecutor(1) as pool:
        yield pool.submit(stack.enter_context, served(args, folder / "mlflow.log"))


def lose_machine(made: Any, node: Any) -> None:
    """The node goes away as a machine does: its raylet and every process under it (the
    actor, its fork server, the worker) killed at once, then struck off the cluster."""
    raylet = psutil.Process(node.all_processes["raylet"][0].process.pid)
    for process in [*raylet.children(recursive=True), raylet]:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
    made.remove_node(node, allow_graceful=False)


def node_of(trial: Any) -> str | None:
    worker = trial.user_attrs.get("worker")
    return worker.get("ray_node") if isinstance(worker, dict) else None


def training_on(url: str, name: str, node: str) -> Any:
    """A trial of `node` in training, with epochs left for the node to be lost mid-trial."""
    for t in trials(url, name):
        epochs = len(t.intermediate_values)
        if t.state.name == "RUNNING" and node_of(t) == node and 1 <= epochs <= 6:
            return t
    return None


def beyond_loopback() -> list[str]:
    """Sockets of this test's processes (the Ray nodes, the driver, its actors and workers,
    the MLflow server) that listen or connect anywhere but 127.0.0.1 (IPv4-mapped or not)."""
    found = []
    for process in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            for conn in process.net_connections("inet"):
                ends = [conn.laddr, *([conn.raddr] if conn.raddr else [])]
                if any(end.ip.removeprefix("::ffff:") != LOOPBACK for end in ends):
                    found.append(f"{process.name()} {conn.laddr} {conn.raddr} {conn.status}")
    return found


@pytest.mark.postgres
@pytest.mark.slow
def test_two_ray_nodes_share_a_grid_and_one_is_lost_mid_trial(mlflow_server, cluster, tmp_path):
    made, second = cluster
    head_id, lost_id = made.head_node.node_id, second.node_id
    url = postgres_url()
    name = f"ray-{uuid.uuid4().hex[:8]}"
    spec = study_file(tmp_path, name, epochs=10, grid=GRID4)
    server = mlflow_server.result().url.rstrip("/")
    options = ["--ray", made.address, "--workers", "2", "--storage", url]
    proc = start_run(tmp_path, spec, *options, "--tracking-uri", server)
    try:
        victim = wait_for(
            "a trial in training on the second node",
            lambda: training_on(url, name, lost_id),
            proc,
            timeout=180,
        )
        assert beyond_loopback() == []
        lose_machine(made, second)
        code, out = finish(proc, timeout=240)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert code == 0, out
    runs = mlflow_runs(server)
    all_trials = trials(url, name)
    standing = live(all_trials)
    assert {t.state.name for t in standing} == {"COMPLETE"}
    assert set(cells(all_trials)) == grid_cells(GRID4) and max(cells(all_trials).values()) == 1
    assert {node_of(t) for t in all_trials} == {head_id, lost_id}
    lost = next(t for t in all_trials if t.number == victim.number)
    assert lost.state.name == "FAIL"
    assert lost.user_attrs["fail_reason"] == (
        f"worker on Ray node {lost_id} was lost; retried with the same parameters"
    )
    assert f"node {head_id[:8]}" in out and f"node {lost_id[:8]}" in out
    tags = runs[str(lost.number)]
    assert tags["automl.ray_node"] == lost_id and tags["automl.state"] == "FAIL"


def head_run(
    made: Any, mlflow_server: Future[Served], folder: Path, prefix: str
) -> tuple[str, str, Path, list[str], subprocess.Popen[str]]:
    """`automl run --ray` of a fresh grid study with one worker, after the two-node test has
    left the head node alone: its storage, study name, file, options and process."""
    url = postgres_url()
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    # 20 epochs: a trial found at 6 or fewer still trains for seconds when a signal reaches it.
    spec = study_file(folder, name, epochs=20, grid={**GRID4, **SLOW_BATCHES})
    server = mlflow_server.result().url.rstrip("/")
    options = ["--ray", made.address, "--storage", url, "--tracking-uri", server]
    return url, name, spec, options, start_run(folder, spec, *options)


@pytest.mark.postgres
@pytest.mark.slow
def test_ctrl_c_stops_ray_workers_and_queues_their_trials_again(mlflow_server, cluster, tmp_path):
    """After the other test, the head node alone: one worker, stopped as a terminal does."""
    url, name, _, _, proc = head_run(cluster[0], mlflow_server, tmp_path, "ray-stop")
    try:
        stopped = wait_for(
            "a trial in training",
            lambda: training_on(url, name, cluster[0].head_node.node_id),
            proc,
        )
        proc.send_signal(signal.SIGINT)  # the terminal's Ctrl-C reaches the driver alone
        code, out = finish(proc, timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert code == 130, out
    after = {t.number: t for t in trials(url, name)}
    assert after[stopped.number].state.name == "FAIL"
    reason = after[stopped.number].user_attrs["fail_reason"]
    assert reason == "interrupted (Ctrl-C); queued again for the next run"
    assert [t.state.name for t in after.values()].count("WAITING") == 1
    assert "RUNNING" not in {t.state.name for t in after.values()}


@pytest.mark.postgres
@pytest.mark.slow
def test_a_killed_driver_takes_its_ray_workers_along_and_the_next_run_retries(
    mlflow_server, cluster, tmp_path
):
    """`automl run --ray` killed (SIGKILL: no handler runs): Ray ends the actors it owned and
    the worker under its actor with them, so fast that the worker may fail its trial without
    queueing it again; the next run queues it and finishes the grid, each cell once."""
    url, name, spec, options, proc = head_run(cluster[0], mlflow_server, tmp_path, "ray-kill")
    try:
        head = cluster[0].head_node.node_id
        killed = wait_for("a trial in training", lambda: training_on(url, name, head), proc)
        worker = psutil.Process(killed.user_attrs["worker"]["pid"])
        proc.kill()  # the driver alone, as the OOM killer or a lost login shell ends it
        proc.wait()
        worker.wait(timeout=60)  # raises if the worker outlives its driver for a minute
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    code, out = finish(start_run(tmp_path, spec, *options), timeout=240)
    assert code == 0, out
    all_trials = trials(url, name)
    assert {t.state.name for t in live(all_trials)} == {"COMPLETE"}
    assert set(cells(all_trials)) == grid_cells(GRID4) and max(cells(all_trials).values()) == 1
    after = next(t for t in all_trials if t.number == killed.number)
    assert after.state.name == "FAIL"
    reason = after.user_attrs["fail_reason"]
    # The worker marks it as it stops; where Ray ends the worker first, the next run's heartbeat
    # check does. Either way it is retried once with the same parameters.
    stopped = "stopped: its automl run process ended; queued again for the next run"
    assert reason == stopped or reason.startswith("no heartbeat"), reason
    (retry,) = [t for t in all_trials if killed.number in t.system_attrs.get("retry_history", [])]
    assert retry.params == killed.params and retry.state.name == "COMPLETE"


@pytest.mark.postgres
@pytest.mark.slow
def test_a_ray_worker_that_grew_retires_and_its_actor_starts_the_next(
    cluster, tmp_path, monkeypatch
):
    """The actor outlives its worker: the fresh worker comes from the actor's fork server,
    which has TensorFlow imported, not from a new actor that would import it again."""
    import ray
    from ray._private import ray_constants

    # This process is the driver: Ray read RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER when it was
    # imported, before the fixture set it, and would reach for the machine's own address.
    monkeypatch.setattr(ray_constants, "ENABLE_RAY_CLUSTER", False)
    from automl.run.ray_placement import RayActors
    from automl.run.supervisor import run_study
    from automl.spec.reading import load_spec

    url = postgres_url()
    name = f"ray-retire-{uuid.uuid4().hex[:8]}"
    spec = load_spec(study_file(tmp_path, name, sampler="random", trials=3))
    placement = functools.partial(RayActors, cluster[0].address, 1.0, 0.0, url)
    try:
        # Any growth at all retires a worker after its second trial.
        result = run_study(spec, url, None, rss_growth_limit_mb=-1e9, placement=placement)
    finally:
        ray.shutdown()
    assert result.states == {"COMPLETE": 3}
    workers = [t.user_attrs["worker"] for t in trials(url, name)]
    assert workers[0]["pid"] == workers[1]["pid"] != workers[2]["pid"]
    assert len({w["ray_actor"] for w in workers}) == 1


def mlflow_runs(server: str) -> dict[str, dict[str, str]]:
    """Every trial run's tags on the MLflow server, by trial number."""
    from mlflow import MlflowClient

    client = MlflowClient(server)
    experiments = [e.experiment_id for e in client.search_experiments()]
    runs = client.search_runs(experiments)
    return {
        r.data.tags["automl.trial_number"]: r.data.tags
        for r in runs
        if "automl.trial_number" in r.data.tags
    }


runner = CliRunner()


def refused(args: list[str]) -> str:
    """The one error line of an `automl run` that must stop before anything starts."""
    result = runner.invoke(app, ["run", *args])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    return lines[0]


def test_ray_refuses_stores_on_this_machine_before_anything_starts(workdir):
    spec = str(study_file(workdir, "local"))
    journal = refused([spec, "--ray", "auto"])
    assert "automl.journal is a file on this machine" in journal and "PostgreSQL" in journal
    sqlite = refused([spec, "--ray", "auto", "--storage", f"sqlite:///{workdir / 'x.db'}"])
    assert "PostgreSQL" in sqlite
    pg = "postgresql://me@127.0.0.1:1/db"
    mlflow = refused([spec, "--ray", "auto", "--storage", pg])
    assert "MLflow tracking URI sqlite:///" in mlflow and "MLflow server" in mlflow
    files = refused([spec, "--ray", "auto", "--storage", pg, "--tracking-uri", "./mlruns"])
    assert "MLflow server" in files
    assert sorted(p.name for p in workdir.iterdir()) == ["local.yaml"]


def test_ray_without_ray_installed_names_the_extra(workdir, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray fails as where it is missing
    monkeypatch.delitem(sys.modules, "automl.run.ray_placement", raising=False)
    spec = str(study_file(workdir, "noray"))
    line = refused(
        [
            spec,
            "--ray",
            "auto",
            "--storage",
            "postgresql://me@127.0.0.1:1/db",
            "--tracking-uri",
            "http://127.0.0.1:1",
        ]
    )
    assert line == "error: --ray needs Ray: pip install 'automl[ray]'"
    assert sorted(p.name for p in workdir.iterdir()) == ["noray.yaml"]


def test_ray_sizes_and_local_gpus_go_with_or_without_ray_as_they_should(workdir):
    spec = str(study_file(workdir, "sizes"))
    assert "add --ray ADDRESS" in refused([spec, "--cpus-per-worker", "2"])
    pg = ["--storage", "postgresql://me@127.0.0.1:1/db", "--tracking-uri", "http://127.0.0.1:1"]
    assert "--gpus-per-worker" in refused([spec, "--ray", "auto", "--gpus", "0", *pg])
    assert sorted(p.name for p in workdir.iterdir()) == ["sizes.yaml"]
