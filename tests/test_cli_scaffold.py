"""`automl new`: a study file from options, runnable as it stands; `--set` on a study in use."""

from __future__ import annotations

import sqlite3
from importlib.util import find_spec
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from automl.cli.app import app
from automl.spec.reading import load_spec
from automl.spec.schema import Choice, Range
from tests.data_files import mnist_arrays, write_folder, write_npz

LESSON_GRID = [
    "--sampler", "grid",
    "--param", "learning_rate=0.1,0.01,0.001",
    "--param", "beta_1=0.8,0.88,0.9",
]  # fmt: skip


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


@pytest.fixture(autouse=True)
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """`new` writes under ./studies: every test works in its own folder."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize(("dataset", "depth_high"), [("digits", 3), ("cifar10", 4)])
def test_default_study_is_the_lessons_space(dataset: str, depth_high: int) -> None:
    code, out = invoke("new", "first", "--dataset", dataset)
    assert code == 0, out
    path = Path("studies/first.yaml")
    assert out.splitlines()[0].startswith(f"wrote {path}: study first on {dataset}")

    code, out = invoke("validate", str(path))
    assert code == 0, out
    spec = load_spec(path)
    scales = {p.name: p.domain.scale for p in spec.params if isinstance(p.domain, Range)}
    assert scales == {
        "learning_rate": "log",
        "beta_1": "log1m",
        "beta_2": "log1m",
        "l2": "log",
        "depth": "linear",
        "width": "log",
    }
    bn = next(p for p in spec.params if p.name == "batch_norm")
    assert bn.domain == Choice((True, False))
    depth = next(p.domain for p in spec.params if p.name == "depth")
    assert isinstance(depth, Range) and depth.high == depth_high

    # plain YAML (no automl loader) reads every bound as a number
    plain = yaml.safe_load(path.read_text())
    for name, value in plain["params"].items():
        if isinstance(value, dict):
            for key in ("low", "high"):
                assert isinstance(value[key], int | float), (name, key, value[key])
    assert plain["epochs"] == spec.epochs and plain["trials"] == spec.trials

    # a comment line above each parameter says what it means
    lines = path.read_text().splitlines()
    for name in plain["params"]:
        at = next(i for i, line in enumerate(lines) if line.startswith(f"  {name}:"))
        assert lines[at - 1].startswith("  # ")
    assert "  # Adam's β2 (momentum of its square); 0.99..0.9995, log-uniform in 1 - β" in lines


def test_lesson_grid_is_nine_trials() -> None:
    code, out = invoke("new", "lesson-grid", *LESSON_GRID)
    assert code == 0, out
    code, out = invoke("validate", "studies/lesson-grid.yaml")
    assert code == 0, out
    assert out.splitlines() == [
        "ok: study lesson-grid on digits, maximize val_accuracy, 9 trials of at most 10 epochs, "
        "sampler grid, pruner median",
        "  learning_rate: grid 0.1, 0.01, 0.001",
        "  beta_1: grid 0.8, 0.88, 0.9",
        "grid size: 9",
        "data: scikit-learn digits: 1,797 8x8 grayscale images, values 0-16, 10 classes",
    ]
    # the grid sampler without --param writes the same lesson grid
    invoke("new", "plain-grid", "--sampler", "grid")
    assert (
        load_spec("studies/plain-grid.yaml").params == load_spec("studies/lesson-grid.yaml").params
    )


def test_written_values_read_back_as_written() -> None:
    """Plain YAML reads numbers as numbers, and a name that looks like one stays a name."""
    for name in ("2024", "yes", "null"):
        args = ["--param", "epsilon=1e-8", "--param", "learning_rate=1e-5,1e-4"]
        code, out = invoke("new", name, "--dataset", "mnist", *args)
        assert code == 0, out
        assert load_spec(f"studies/{name}.yaml").name == name
        plain = yaml.safe_load(Path(f"studies/{name}.yaml").read_text())
        assert plain["name"] == name
        assert plain["params"] == {"epsilon": 1e-8, "learning_rate": [1e-5, 1e-4]}
        assert plain["epochs"] == 5  # mnist's default


def test_refuses_to_overwrite_without_force() -> None:
    assert invoke("new", "s", "--epochs", "4")[0] == 0
    before = Path("studies/s.yaml").read_text()
    code, out = invoke("new", "s", "--epochs", "7")
    assert (code, out) == (2, "error: studies/s.yaml exists; add --force to overwrite it\n")
    assert Path("studies/s.yaml").read_text() == before
    assert invoke("new", "s", "--epochs", "7", "--force")[0] == 0
    assert load_spec("studies/s.yaml").epochs == 7


def test_out_writes_elsewhere_and_dataset_paths(in_tmp: Path) -> None:
    write_npz(in_tmp / "images.npz", **mnist_arrays(n_train=20, n_test=10))
    out_path = in_tmp / "deep" / "er" / "x.yaml"
    code, out = invoke("new", "x", "--dataset", "images.npz", "--out", str(out_path))
    assert code == 0, out
    assert load_spec(out_path).dataset.name == "npz"
    assert load_spec(out_path).dataset.path == "images.npz"
    write_folder(in_tmp / "pictures", {"cat": 2, "dog": 2})
    assert invoke("new", "y", "--dataset", "pictures")[0] == 0
    assert load_spec("studies/y.yaml").dataset.name == "folder"


def _files(root: Path) -> set[Path]:
    return set(root.rglob("*"))


@pytest.mark.parametrize(
    "name",
    ["../../x", "../x", "/abs/x", "a/b", "a\\b", "a\0b", "a\nb", "\x01", "x" * 300, "é" * 130],
    ids=["up-two", "up-one", "absolute", "a-folder", "backslash", "nul", "newline", "control",
         "300-chars", "260-bytes"],
)  # fmt: skip
def test_names_that_escape_studies_write_nothing(in_tmp: Path, name: str) -> None:
    (in_tmp / "work").mkdir()
    before = _files(in_tmp)
    result = CliRunner().invoke(app, ["new", name], env={"PWD": str(in_tmp)})
    assert result.exit_code == 2, result.output
    (line,) = result.output.splitlines()
    assert line.startswith("error: name: ") and "studies/NAME.yaml" in line, line
    assert _files(in_tmp) == before
    assert not Path("/abs").exists() and not (in_tmp.parent / "x.yaml").exists()


def test_the_longest_name_that_fits_is_written(in_tmp: Path) -> None:
    assert invoke("new", "x" * 250)[0] == 0
    assert load_spec(f"studies/{'x' * 250}.yaml").name == "x" * 250


def _bad_data(root: Path) -> dict[str, tuple[str, str]]:
    """--dataset values validate would refuse, and the words of the one line."""
    nan = mnist_arrays(n_train=20, n_test=10)
    nan["x_train"] = nan["x_train"].astype(np.float32)
    nan["x_train"][0, 0, 0] = np.nan
    write_npz(root / "nan.npz", **nan)
    write_folder(root / "one", {"cat": 3})
    (root / "empty").mkdir()
    (root / "text.npz").write_text("not an npz\n")
    return {
        "data/none.npz": ("data/none.npz", "no such file"),
        "nan.npz": ("nan.npz", "pixels must be finite"),
        "one": ("one", "a classifier needs two"),
        "empty": ("empty", "no class folders"),
        "text.npz": ("text.npz", "is not an npz file"),
    }


def test_new_checks_the_data_set_with_validates_rules_before_writing(in_tmp: Path) -> None:
    for dataset, (named, words) in _bad_data(in_tmp).items():
        code, out = invoke("new", "d", "--dataset", dataset)
        assert code == 2, (dataset, out)
        (line,) = out.splitlines()
        assert line.startswith("error: ") and named in line and words in line, (dataset, line)
        assert not Path("studies").exists(), dataset


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--param", "learning_rate=-1..1:log"],
            "error: params.learning_rate.low: must be > 0, got -1",
        ),
        (["--trials", "0"], "error: trials: must be an integer >= 1, got 0"),
        (
            ["--sampler", "anneal"],
            "error: sampler: must be one of tpe, random, grid, qmc, cmaes, gp, got 'anneal'",
        ),
        (
            [*LESSON_GRID, "--trials", "10"],
            "error: trials: the grid has 9 combinations, got trials: 10",
        ),
        (["--param", "lr=0.1"], "error: params.lr: unknown hyperparameter; known: learning_rate"),
        (["--param", "lr=1.."], "error: --param 'lr=1..': a range needs both ends"),
        (
            ["--param", "learning_rate=1e-4..1e-1:log:num=x"],
            "error: --param 'learning_rate=1e-4..1e-1:log:num=x': :num= must be a number, got 'x'",
        ),
        (["--param", "depth=2:log"], "error: --param 'depth=2:log': suffixes"),
        (["--param", "depth"], "error: --param 'depth': expected KEY=VALUE"),
        (["--param", "depth=2", "--param", "depth=3"], "error: --param 'depth=3': depth is given"),
    ],
)
def test_bad_options_write_nothing(args: list[str], message: str) -> None:
    code, out = invoke("new", "bad", *args)
    assert code == 2
    (line,) = out.splitlines()
    assert line.startswith(message)
    assert not Path("studies/bad.yaml").exists()


@pytest.mark.skipif(find_spec("torch") is not None, reason="needs an environment without torch")
def test_missing_extra_is_refused_before_writing() -> None:
    code, out = invoke("new", "gp-study", "--sampler", "gp")
    assert (code, out) == (
        2,
        "error: sampler gp needs PyTorch: pip install 'automl[gp]' (or pip install torch)\n",
    )
    assert not Path("studies/gp-study.yaml").exists()


def test_unwritable_out_is_one_line() -> None:
    Path("taken").mkdir()
    code, out = invoke("new", "x", "--out", "taken", "--force")
    assert (code, out) == (2, "error: cannot write taken: Is a directory\n")


def test_rule_messages_match_validates() -> None:
    """`new` refuses what `validate` would refuse, in the same words."""
    code, out = invoke("new", "g", *LESSON_GRID, "--param", "l2=1e-6..1e-2:log")
    assert code == 2
    message = out.removeprefix("error: ")
    assert message.startswith("params.l2: sampler grid needs a list, or a range with num:")
    invoke("new", "g", *LESSON_GRID)
    code, out = invoke("validate", "studies/g.yaml", "--set", "params.l2=1e-6..1e-2:log")
    assert (code, out) == (2, f"error: studies/g.yaml: {message}")


def _trials(journal: Path, study: str) -> list[str]:
    import optuna

    from automl.run.storage import open_storage

    loaded = optuna.load_study(study_name=study, storage=open_storage(str(journal)))
    return [t.state.name for t in loaded.get_trials()]


def _mlflow_runs(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("select count(*) from runs").fetchone()[0])


@pytest.mark.slow
def test_new_study_runs_and_a_changed_space_is_refused(in_tmp: Path) -> None:
    code, out = invoke(
        "new", "tiny",
        "--epochs", "1",
        "--trials", "2",
        "--param", "width=4,8",
        "--param", "depth=1",
        "--param", "learning_rate=1e-3..1e-2:log",
        "--param", "batch_norm=true,false",
    )  # fmt: skip
    assert code == 0, out
    journal, db = in_tmp / "s.journal", in_tmp / "mlflow.db"
    where = ["--storage", str(journal), "--tracking-uri", f"sqlite:///{db}"]

    code, out = invoke("run", "studies/tiny.yaml", *where)
    assert code == 0, out
    assert "study tiny: 2 complete (budget 2)" in out
    assert _trials(journal, "tiny") == ["COMPLETE", "COMPLETE"]
    runs = _mlflow_runs(db)
    assert runs == 3  # the study's parent run and one per trial

    # another space under the same name: refused before any worker or MLflow run starts
    changed = ["--set", "params.learning_rate=0.1,0.01"]
    code, out = invoke("run", "studies/tiny.yaml", *where, *changed)
    assert code == 2
    assert out == (
        "error: study tiny already has trials of another search space "
        "(params.learning_rate differ); pick a new name (--set name=...)\n"
    )
    assert _trials(journal, "tiny") == ["COMPLETE", "COMPLETE"]
    assert _mlflow_runs(db) == runs

    # the advice works: the variant runs as a study of its own
    code, out = invoke(
        "run", "studies/tiny.yaml", *where, *changed, "--set", "name=tiny-b", "--set", "trials=1"
    )
    assert code == 0, out
    assert "study tiny-b: 1 complete (budget 1)" in out
    assert _trials(journal, "tiny") == ["COMPLETE", "COMPLETE"]
