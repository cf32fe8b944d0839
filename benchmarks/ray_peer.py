"""automl on Ray against the peer a Ray user would pick: Ray Tune, on the same local cluster.

One Ray cluster on this machine (a head node with 2 CPUs, every process on 127.0.0.1, Ray's
files in a temporary home), a throwaway PostgreSQL and an MLflow server on loopback. For each
seed, the same digits study (the shared space and model, 30 trials of at most 12 epochs, each
trial scored by its best epoch) runs twice on that cluster, each arm a command in its own
process, timed as a whole from its start to its exit:

- automl: `automl run STUDY --ray ADDRESS --workers 2` with TPE and Hyperband (its default
  pruner), the study in PostgreSQL and the runs on the MLflow server (tracking, top-K models and
  the registry on);
- automl-asha: the same with `pruner: sha`, Optuna's asynchronous successive halving (min
  resource 1, reduction factor 3): the algorithm Ray Tune's ASHA runs, with its settings, so
  the two differ in their engines and not in how much they prune;
- Ray Tune: `python -m benchmarks.ray_tune_arm` (OptunaSearch's TPE, ASHA, two trials at once).

The record is written after every seed, so a run cut short keeps the seeds it finished.

    python -m benchmarks.ray_peer                  # seeds 0 1 2
    python -m benchmarks.ray_peer --seeds 0 --trials 2 --epochs 1
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

import yaml

from automl.uris import LOOPBACK
from benchmarks.harness import records, stats, workload
from tests.postgres import server_url
from tests.ui_servers import free_port, served

QUESTION = (
    "How long does automl on a Ray cluster take against Ray Tune on the same cluster, for the "
    "same digits study, and how good is the best trial each finds?"
)
CPUS = 2  # the head node's: two workers, or two Tune trials, of one CPU each
TIMEOUT = 1800  # seconds an arm may take before it is stopped and the benchmark fails
# Ray keeps 127.0.0.1 as the node address only with this set in every Ray process
# (ray/_private/services.py, resolve_ip_for_localhost); its usage report stays off.
RAY_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0"}


@contextmanager
def ray_cluster(home: Path) -> Iterator[str]:
    """A one-node Ray cluster on loopback, its token in `home`; its address. Shut down at the
    end, whatever happens."""
    from ray.cluster_utils import Cluster

    path = os.pathsep.join(p for p in (str(records.ROOT), os.environ.get("PYTHONPATH")) if p)
    with mock.patch.dict(os.environ, {**RAY_ENV, "HOME": str(home), "PYTHONPATH": path}):
        head = {"num_cpus": CPUS, "include_dashboard": False, "node_ip_address": LOOPBACK}
        made = Cluster(initialize_head=True, connect=False, head_node_args=head)
        try:
            made.wait_for_nodes()
            yield made.address
        finally:
            made.shutdown()


def mlflow_server(stack: ExitStack, folder: Path) -> str:
    """`automl mlflow-ui` on an empty SQLite store in `folder`; its URL."""
    from mlflow import MlflowClient

    uri = f"sqlite:///{folder / 'mlflow.db'}"
    MlflowClient(uri).search_experiments()  # creates its tables
    args = ["mlflow-ui", "--tracking-uri", uri, "--port", str(free_port())]
    server = stack.enter_context(served(args, folder / "mlflow.log", cwd=folder))
    return server.url.rstrip("/")


def timed(command: list[str], folder: Path, name: str) -> float:
    """Run `command` in `folder` (its own process group, output in NAME.log); its wall seconds.

    A command that fails or outlasts TIMEOUT is stopped with everything it started.
    """
    log = folder / f"{name}.log"
    t0 = time.perf_counter()
    with log.open("w") as out:
        proc = subprocess.Popen(
            command, cwd=folder, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            code = proc.wait(TIMEOUT)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    seconds = time.perf_counter() - t0
    if code != 0:
        tail = log.read_text(encoding="utf-8", errors="replace")[-3000:]
        raise RuntimeError(f"{name} exited {code}:\n{tail}")
    return seconds


# Ray Tune's ASHA settings (benchmarks/ray_tune_arm.py) as automl's successive-halving pruner.
ASHA = {"name": "sha", "min_resource": 1, "reduction_factor": 3}
ARMS = ("automl", "automl-asha", "tune")


def arm_automl(
    arm: str,
    seed: int,
    address: str,
    storage: str,
    tracking: str,
    folder: Path,
    budget: dict[str, Any],
) -> dict[str, Any]:
    """`automl run --ray ADDRESS --workers 2` on the shared study (`budget` may name its
    pruner); what PostgreSQL holds after."""
    import optuna

    from automl.run.storage import open_storage

    name = f"ray-peer-{seed}-{uuid.uuid4().hex[:6]}"
    spec = workload.study_file(name, seed, **budget)
    study_path = folder / "study.yaml"
    study_path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    command = [sys.executable, "-m", "automl", "run", str(study_path), "--ray", address]
    command += ["--workers", str(CPUS), "--storage", storage, "--tracking-uri", tracking]
    seconds = timed(command, folder, arm)
    study = optuna.load_study(study_name=name, storage=open_storage(storage))
    done = study.get_trials(deepcopy=False)
    return {
        "seconds": seconds,
        "trials": len(done),
        "epochs": sum(len(t.intermediate_values) for t in done),
        "best_val": study.best_value,
    }


def arm_tune(seed: int, address: str, folder: Path, budget: dict[str, int]) -> dict[str, Any]:
    """Ray Tune's script in its own process; its wall and what it wrote."""
    out = folder / "tune.json"
    command = [sys.executable, "-m", "benchmarks.ray_tune_arm", "--address", address]
    command += ["--seed", str(seed), "--out", str(out)]
    command += ["--trials", str(budget["trials"]), "--epochs", str(budget["epochs"])]
    seconds = timed(command, folder, "tune")
    return {"seconds": seconds, **json.loads(out.read_text(encoding="utf-8"))}


def one_seed(
    seed: int, address: str, storage: str, tracking: str, work: Path, budget: dict[str, int]
) -> dict[str, Any]:
    """Both arms on one seed, the first alternating from seed to seed (a drift in the
    machine's load then falls on each arm in turn)."""
    folder = work / f"seed{seed}"
    folder.mkdir()
    asha = {**budget, "pruner": ASHA}
    arms = {
        "automl": lambda: arm_automl("automl", seed, address, storage, tracking, folder, budget),
        "automl-asha": lambda: arm_automl(
            "automl-asha", seed, address, storage, tracking, folder, asha
        ),
        "tune": lambda: arm_tune(seed, address, folder, budget),
    }
    order = list(arms) if seed % 2 == 0 else list(arms)[::-1]
    found: dict[str, Any] = {"seed": seed, "first": order[0]}
    for arm in order:
        found[arm] = arms[arm]()
        found[arm]["load"] = round(os.getloadavg()[0], 1)
        print(f"seed {seed} {arm}: {found[arm]['seconds']:.0f} s", flush=True)
    return found


def table(rows: list[dict[str, Any]], seeds: list[int], budget: dict[str, int]) -> str:
    """The per-seed figures and the median ratios, as Markdown."""
    lines = [
        f"One Ray node on loopback with {CPUS} CPUs; {budget['trials']} trials of at most "
        f"{budget['epochs']} epochs on digits; seeds finished: {len(rows)} of {len(seeds)}. "
        "automl: `automl run --ray ADDRESS --workers 2` with TPE and Hyperband (its default), "
        "automl-asha: the same with `pruner: sha` (Optuna's asynchronous successive halving, "
        "Ray Tune's ASHA settings); Ray Tune: OptunaSearch (TPE) + ASHA, 2 trials at once. "
        "Wall: each arm's command from its process start to its exit; load: the 1-minute load "
        "average as the arm ended.",
        "",
        "| seed | arm | wall s | ÷ Ray Tune | epochs | trials | best val acc | load |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        for arm in ARMS:
            if arm not in r:
                continue  # a record made before the arm existed
            a = r[arm]
            ratio = a["seconds"] / r["tune"]["seconds"]
            lines.append(
                f"| {r['seed']} | {arm} | {a['seconds']:.1f} | {ratio:.2f} | {a['epochs']} "
                f"| {a['trials']} | {a['best_val']:.4f} | {a['load']} |"
            )
    lines.append("")
    for arm in ARMS[:-1]:
        ratios = [r[arm]["seconds"] / r["tune"]["seconds"] for r in rows if arm in r]
        lines.append(
            f"{arm} ÷ Ray Tune wall, median [min–max] over the seeds: {stats.spread(ratios)}."
        )
    return "\n".join(lines)


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=QUESTION)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--trials", type=int, default=workload.TRIALS)
    parser.add_argument("--epochs", type=int, default=workload.EPOCHS)
    parser.add_argument(
        "--results", type=Path, default=records.RESULTS, help="folder of the record ray_peer.json"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    budget = {"trials": args.trials, "epochs": args.epochs}
    started = time.perf_counter()
    storage = server_url()
    if storage is None:
        raise SystemExit("error: no PostgreSQL here: install its server binaries")
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-ray-peer-") as temp, ExitStack() as stack:
        work = Path(temp)
        (work / "home").mkdir()
        tracking = mlflow_server(stack, work)
        address = stack.enter_context(ray_cluster(work / "home"))
        for seed in args.seeds:
            rows.append(one_seed(seed, address, storage, tracking, work, budget))
            shown = table(rows, args.seeds, budget)
            data = {"budget": budget, "seeds": args.seeds, "cpus": CPUS, "rows": rows}
            records.save("ray_peer", shown, data, QUESTION, started, argv, folder=args.results)
    print(shown)


if __name__ == "__main__":
    main()
