"""The HTML report: every figure in one page that opens offline, and its upload to MLflow."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import optuna
import pytest
from typer.testing import CliRunner

from automl.cli.app import app
from automl.report.page import write_report
from automl.run.storage import open_storage
from tests.made_studies import add, bn_study

CHROMIUM = Path("/usr/bin/chromium")
ALL_FIGURES = [
    "fig-history",
    "fig-curves",
    "fig-parallel",
    "fig-importances",
    "fig-contour",
    "fig-slices",
    "fig-bn-learning-rates",
    "fig-bn-curves",
]


def test_report_is_self_contained_and_holds_every_figure(tmp_path: Path) -> None:
    url = str(tmp_path / "s.journal")
    bn_study(open_storage(url))

    report = write_report(url, "bn", tmp_path / "out", tracking_uri=None)

    assert report.path == tmp_path / "out" / "bn.html"
    assert report.figures == ALL_FIGURES
    page = report.path.read_text(encoding="utf-8")
    # Opens offline: no script is fetched, plotly.js itself is inside.
    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", page, flags=re.S)
    assert scripts and not [attrs for attrs, _ in scripts if "src" in attrs]
    assert "cdn.plot.ly" not in _without_scripts(page)
    assert max(len(body) for _, body in scripts) > 3_000_000
    for fig in ALL_FIGURES:
        assert f'id="{fig}"' in page
    assert "one_minus_beta_2" not in page  # β as β in every plot
    assert "This study agrees with the lesson&#x27;s claim" in page
    assert report.notes == ["Importances rest on 5 complete trials: a rough guess below 10."]
    assert report.mlflow == "not logged to MLflow: the study has no MLflow parent run"


def test_report_of_a_small_study_explains_what_it_leaves_out(tmp_path: Path) -> None:
    url = str(tmp_path / "s.journal")
    study = optuna.create_study(study_name="one", storage=open_storage(url), direction="maximize")
    add(study, [0.5, 0.8], lr=0.01, beta_1=0.9)
    add(study, [0.4, 0.6], lr=0.01, beta_1=0.9, state="PRUNED")

    report = write_report(url, "one", tmp_path, tracking_uri=None)

    assert report.figures == ["fig-history", "fig-curves"]
    text = " ".join(report.notes)
    assert "no hyperparameter varied" in text
    assert "learning rate × β1" in text
    assert "batch_norm did not vary" in text


def test_report_is_logged_to_the_study_parent_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow import MlflowClient

    monkeypatch.chdir(tmp_path)  # MLflow puts a new experiment's artifacts under ./mlruns
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    parent = client.create_run(client.create_experiment("bn")).info.run_id
    url = str(tmp_path / "s.journal")
    bn_study(open_storage(url)).set_user_attr("mlflow_parent_run_id", parent)

    result = CliRunner().invoke(
        app, ["report", "bn", "--storage", url, "--out", str(tmp_path / "r"), "--tracking-uri", uri]
    )

    assert result.exit_code == 0, result.output
    assert f"wrote {tmp_path / 'r' / 'bn.html'} (8 figures)" in result.stdout
    assert "This study agrees" in result.stdout
    assert f"logged to MLflow run {parent} as report/bn.html" in result.stdout
    logged = [a.path for a in client.list_artifacts(parent, "report")]
    assert logged == ["report/bn.html"]
    local = client.download_artifacts(parent, "report/bn.html", str(tmp_path))
    assert Path(local).read_bytes() == (tmp_path / "r" / "bn.html").read_bytes()


def test_report_does_not_create_a_missing_mlflow_store(tmp_path: Path) -> None:
    url = str(tmp_path / "s.journal")
    bn_study(open_storage(url)).set_user_attr("mlflow_parent_run_id", "0" * 32)
    uri = f"sqlite:///{tmp_path / 'absent.db'}"

    report = write_report(url, "bn", tmp_path, tracking_uri=uri)

    assert report.mlflow == f"not logged to MLflow: no MLflow store at {uri}"
    assert not (tmp_path / "absent.db").exists()


def _without_scripts(page: str) -> str:
    return re.sub(r"<script\b.*?</script>", "", page, flags=re.S)


@pytest.mark.browser
def test_report_renders_its_plots_in_headless_chromium(tmp_path: Path) -> None:
    if not CHROMIUM.exists():
        pytest.skip("needs /usr/bin/chromium (Debian package chromium) to render the report")
    url = str(tmp_path / "s.journal")
    bn_study(open_storage(url))
    report = write_report(url, "bn", tmp_path, tracking_uri=None)
    # Before a browser runs plotly's JavaScript, the page holds no SVG at all.
    assert 'class="main-svg"' not in _without_scripts(report.path.read_text(encoding="utf-8"))

    dom = subprocess.run(
        [
            str(CHROMIUM),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--no-first-run",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'chromium'}",
            "--virtual-time-budget=10000",
            "--dump-dom",
            report.path.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout

    rendered = _without_scripts(dom)
    starts = [(rendered.index(f'id="{fig}"'), fig) for fig in report.figures]
    starts.sort()
    for (start, fig), (end, _) in zip(starts, [*starts[1:], (len(rendered), "")], strict=True):
        part = rendered[start:end]
        assert 'class="main-svg"' in part, f"{fig} did not render"
        assert "js-plotly-plot" in part, f"{fig} was not drawn by plotly"
    # The learning curves drew one line per trial.
    curves = rendered[rendered.index('id="fig-curves"') : rendered.index('id="fig-parallel"')]
    assert curves.count('class="trace scatter') == 7
