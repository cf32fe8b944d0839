"""A real browser on both UIs: a tiny study is run against `automl mlflow-ui`, `automl dashboard`
serves it, and headless chromium renders the pages: the study and its runs must be on them,
and the links must lead from a trial to its MLflow run and back.

Screenshots go to $AUTOML_SCREENSHOTS, else to `screenshots` in pytest's temporary folder
(the path is printed); README's pictures in docs/screenshots come from here.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import optuna
import pytest

from tests.ui_servers import Served, free_port, served

CHROMIUM = Path("/usr/bin/chromium")
STUDY = "watched"
SPEC = f"""\
name: {STUDY}
epochs: 2
trials: 2
seed: 0
sampler: {{name: random, seed: 0}}
pruner: none
params:
  learning_rate: {{low: 3e-3, high: 3e-2, log: true}}
  width: 8
  depth: 1
"""

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="headless chromium is not installed: apt-get install chromium (.ci/run does)",
    ),
]


@dataclass
class Watched:
    folder: Path
    study: optuna.Study
    dashboard: Served
    mlflow: Served
    shots: Path

    def render(self, url: str, shot: str | None = None, height: int = 1000) -> str:
        """The page's DOM after its scripts ran (both UIs are single-page apps)."""
        command = [
            str(CHROMIUM),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            f"--user-data-dir={self.folder / 'chromium'}",
            "--virtual-time-budget=15000",
            f"--window-size=1400,{height}",
            "--dump-dom",
        ]
        if shot is not None:
            command.append(f"--screenshot={self.shots / shot}")
        done = subprocess.run(
            [*command, url], capture_output=True, text=True, timeout=120, check=True
        )
        if shot is not None:
            assert (self.shots / shot).read_bytes().startswith(b"\x89PNG")
        return done.stdout


@pytest.fixture(scope="module")
def watched(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Watched]:
    from mlflow import MlflowClient

    from automl.run.storage import open_storage

    folder = tmp_path_factory.mktemp("watched")
    shots = Path(os.environ.get("AUTOML_SCREENSHOTS") or tmp_path_factory.mktemp("screenshots"))
    shots.mkdir(parents=True, exist_ok=True)
    print(f"screenshots: {shots}")
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("MLFLOW_TRACKING_URI", "AUTOML_STORAGE", "AUTOML_ARTIFACTS")
    }
    MlflowClient(f"sqlite:///{folder / 'mlflow.db'}").search_experiments()  # an empty store
    (folder / "study.yaml").write_text(SPEC)
    mlflow_args = ["mlflow-ui", "--port", str(free_port())]
    with served(mlflow_args, folder / "mlflow.log", cwd=folder, env=env) as mlflow_ui:
        tracking = mlflow_ui.url.rstrip("/")
        run = subprocess.run(
            [sys.executable, "-m", "automl", "run", "study.yaml", "--tracking-uri", tracking],
            cwd=folder, env=env, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        assert run.returncode == 0, run.stdout + run.stderr
        assert "registered the model of trial" in run.stdout
        dashboard_args = ["dashboard", "--port", str(free_port())]
        with served(dashboard_args, folder / "dashboard.log", cwd=folder, env=env) as dashboard:
            study = optuna.load_study(
                study_name=STUDY, storage=open_storage(str(folder / "automl.journal"))
            )
            yield Watched(folder, study, dashboard, mlflow_ui, shots)


def test_the_dashboard_shows_the_study_and_its_trials_with_their_curves(watched: Watched) -> None:
    assert STUDY in watched.render(f"{watched.dashboard.url}dashboard")
    study_id = watched.study._study_id
    overview = watched.render(
        f"{watched.dashboard.url}dashboard/studies/{study_id}", "dashboard-study.png"
    )
    assert STUDY in overview and "History" in overview
    trials = watched.render(f"{watched.dashboard.url}dashboard/studies/{study_id}/trials")
    assert "Trial 0" in trials and "Trial 1" in trials
    best = watched.study.best_trial
    page = watched.render(
        f"{watched.dashboard.url}dashboard/studies/{study_id}/trials?numbers={best.number}",
        "dashboard-trial.png",
        height=1300,
    )
    assert f"Trial {best.number}" in page and "Best Trial" in page
    assert "learning_curves.png" in page  # the trial's artifact, from the shared artifact folder
    assert best.user_attrs["mlflow_run_url"] in page.replace("&amp;", "&")


def test_a_trial_links_to_its_mlflow_run_and_the_run_links_back(watched: Watched) -> None:
    best = watched.study.best_trial
    url = best.user_attrs["mlflow_run_url"]
    assert url.startswith(watched.mlflow.url)
    assert best.user_attrs["mlflow_run_id"] in url
    page = watched.render(url, "mlflow-run.png", height=1300)
    assert f"trial-{best.number}" in page
    for tag, value in (("automl.study", STUDY), ("automl.trial_number", str(best.number))):
        assert re.search(rf"{re.escape(tag)}\W*</\w+>\W*(<[^>]*>\W*)*{re.escape(value)}", page)
    assert "COMPLETE" in page and "Finished" in page
    back = f"/dashboard/studies/{watched.study._study_id}/trials?numbers={best.number}"
    assert back in page  # the run's description names the trial's page in the dashboard
    curves = url.replace("?", "/artifacts/plots/learning_curves.png?", 1)
    shown = watched.render(curves, "mlflow-curves.png")
    assert 'alt="plots/learning_curves.png"' in shown  # the plot is on the page as an image


def test_the_mlflow_ui_compares_every_trial_run_of_the_study(watched: Watched) -> None:
    trials = watched.study.trials
    experiment_url = watched.study.user_attrs["mlflow_experiment_url"]
    assert STUDY in watched.render(experiment_url)
    runs = json.dumps([t.user_attrs["mlflow_run_id"] for t in trials])
    experiments = json.dumps([watched.study.user_attrs["mlflow_experiment_id"]])
    query = urllib.parse.urlencode(
        {"runs": runs, "experiments": experiments, "workflowType": "machine_learning"}
    )
    page = watched.render(f"{watched.mlflow.url}#/compare-runs?{query}", "mlflow-compare.png")
    assert STUDY in page
    for trial in trials:
        assert f"trial-{trial.number}" in page
    models = watched.render(f"{watched.mlflow.url}#/models/{STUDY}?workflowType=machine_learning")
    assert STUDY in models and "Version 1" in models
