"""deploy/kubernetes/automl-rayjob.yaml read as Kubernetes and KubeRay would (no cluster runs
here): the fields automl relies on, and every command line checked against the real CLI it
names."""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml

from automl.cli.app import app
from automl.spec.reading import load_spec
from automl.uris import cluster_store_problem
from tests.processes import REPO

MANIFEST = REPO / "deploy" / "kubernetes" / "automl-rayjob.yaml"
DOCS = list(yaml.safe_load_all(MANIFEST.read_text()))
BY_KIND = {(d["kind"], d["metadata"]["name"]): d for d in DOCS}
RAYJOB = BY_KIND["RayJob", "automl-digits"]
CLUSTER = RAYJOB["spec"]["rayClusterSpec"]
PODS = [CLUSTER["headGroupSpec"], *CLUSTER["workerGroupSpecs"]]


def containers(kind: str, name: str) -> list[dict[str, Any]]:
    return BY_KIND[kind, name]["spec"]["template"]["spec"]["containers"]


def env_of(container: dict[str, Any]) -> dict[str, str]:
    """A container's variables with $(VAR) expanded as Kubernetes does (from those above it);
    a secret's value stands as SECRET."""
    values: dict[str, str] = {}
    for var in container["env"]:
        if "valueFrom" in var:
            assert var["valueFrom"]["secretKeyRef"]["name"] == "automl-postgres"
            values[var["name"]] = "SECRET"
            continue
        for used in re.findall(r"\$\((\w+)\)", var["value"]):
            assert used in values, f"{var['name']} uses $({used}) before it is defined"
        values[var["name"]] = re.sub(r"\$\((\w+)\)", lambda m: values[m[1]], var["value"])
    return values


def parsed(command: Any, args: list[str]) -> dict[str, Any]:
    """The parameters a click command reads from `args` (it refuses what it does not take)."""
    return dict(command.make_context(command.name, args).params)


def service_port(url: str) -> tuple[str, int]:
    host, port = re.match(r"^\w+(?:\+\w+)?://(?:[^@/]*@)?([\w.-]+):(\d+)", url).groups()  # type: ignore[union-attr]
    return host, int(port)


def test_every_resource_names_its_kind_and_the_ray_version_automl_pins() -> None:
    assert {kind for kind, _ in BY_KIND} == {
        "ConfigMap",
        "StatefulSet",
        "Service",
        "Deployment",
        "RayJob",
    }
    assert all(d["apiVersion"] for d in DOCS)
    assert RAYJOB["apiVersion"] == "ray.io/v1"
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    assert CLUSTER["rayVersion"] == extras["ray"][0].split("==")[1]


def test_the_entrypoint_is_an_automl_run_with_ray_and_shared_stores(tmp_path: Path) -> None:
    words = shlex.split(RAYJOB["spec"]["entrypoint"])
    assert words[:2] == ["automl", "run"]
    params = parsed(typer.main.get_command(app).commands["run"], words[2:])  # type: ignore[attr-defined]
    assert params["ray"] == "auto"
    head_env = env_of(CLUSTER["headGroupSpec"]["template"]["spec"]["containers"][0])
    storage = params["storage"] or head_env["AUTOML_STORAGE"]
    assert cluster_store_problem(storage, params["tracking_uri"]) is None
    for url in (storage, params["tracking_uri"]):
        host, port = service_port(url)
        ports = [p["port"] for p in BY_KIND["Service", host]["spec"]["ports"]]
        assert port in ports, url
    # Every worker pod takes whole workers; the head takes none.
    cpus = params["cpus_per_worker"] or 1
    assert CLUSTER["headGroupSpec"]["rayStartParams"]["num-cpus"] == "0"
    places = sum(
        g["replicas"] * int(float(g["rayStartParams"]["num-cpus"]) // cpus)
        for g in CLUSTER["workerGroupSpecs"]
    )
    assert places >= params["workers"]
    # The study file is mounted where the entrypoint reads it, and is a valid study.
    path = Path(words[2])
    for pod in PODS:
        spec = pod["template"]["spec"]
        mounts = {m["mountPath"]: m["name"] for m in spec["containers"][0]["volumeMounts"]}
        volume = next(v for v in spec["volumes"] if v["name"] == mounts[str(path.parent)])
        assert {"key": path.name, "path": path.name} in volume["configMap"]["items"]
    study = tmp_path / path.name
    study.write_text(BY_KIND["ConfigMap", "automl-studies"]["data"][path.name])
    assert load_spec(study).name == "digits-quick"


def test_every_pod_of_the_ray_cluster_has_automl_s_settings_and_bounded_resources() -> None:
    for pod in PODS:
        container = pod["template"]["spec"]["containers"][0]
        assert container["image"] == "automl:latest"
        assert env_of(container)["AUTOML_STORAGE"].startswith("postgresql://automl:SECRET@")
        limits = container["resources"]["limits"]
        assert limits["cpu"] and limits["memory"]


def test_the_mlflow_server_s_command_is_one_mlflow_takes() -> None:
    from mlflow.cli import cli

    container = containers("Deployment", "automl-mlflow")[0]
    assert container["command"][:2] == ["mlflow", "server"]
    params = parsed(cli.commands["server"], container["command"][2:])  # type: ignore[attr-defined]
    assert params["serve_artifacts"] and str(params["workers"]) == "1"
    host, _ = service_port(env_of(container)["MLFLOW_BACKEND_STORE_URI"])
    assert ("Service", host) in BY_KIND


@pytest.mark.parametrize("name", ["automl-postgres", "automl-mlflow"])
def test_each_service_selects_its_pods_and_their_named_port(name: str) -> None:
    service = BY_KIND["Service", name]["spec"]
    kind = "StatefulSet" if name.endswith("postgres") else "Deployment"
    labels = BY_KIND[kind, name]["spec"]["template"]["metadata"]["labels"]
    assert service["selector"].items() <= labels.items()
    names = {p["name"] for c in containers(kind, name) for p in c["ports"]}
    assert {p["targetPort"] for p in service["ports"]} <= names
