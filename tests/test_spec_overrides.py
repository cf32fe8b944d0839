"""`--param` / `--set`: the command line's syntax gives what a study file would hold."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from automl.cli.app import app
from automl.errors import SpecError
from automl.spec.overrides import parse_param, parse_sets, scalar
from automl.spec.reading import load_spec, load_yaml

STUDY = """\
name: base
dataset: digits
epochs: 10
sampler: tpe
trials: 20
params:
  learning_rate: {low: 1e-4, high: 1e-1, log: true}
  depth: {low: 1, high: 3}
"""


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


@pytest.fixture
def study(tmp_path: Path) -> Path:
    path = tmp_path / "base.yaml"
    path.write_text(STUDY)
    return path


@pytest.mark.parametrize(
    ("option", "yaml_text"),
    [
        ("depth=2", "depth: 2"),
        ("batch_norm=true", "batch_norm: true"),
        ("optimizer=adam,sgd", "optimizer: [adam, sgd]"),
        ("learning_rate=0.1,0.01,0.001", "learning_rate: [0.1, 0.01, 0.001]"),
        ("learning_rate=1e-4..1e-1:log", "learning_rate: {low: 1e-4, high: 1e-1, log: true}"),
        ("beta_2=0.99..0.9995:log1m", "beta_2: {low: 0.99, high: 0.9995, scale: log1m}"),
        ("width=8..64:step=8", "width: {low: 8, high: 64, step: 8}"),
        (
            "learning_rate=1e-4..1e-1:log:num=4",
            "learning_rate: {low: 1e-4, high: 1e-1, log: true, num: 4}",
        ),
        ("l2=-1..1", "l2: {low: -1, high: 1}"),
    ],
)
def test_param_gives_the_fragment_the_yaml_would(option: str, yaml_text: str) -> None:
    ((name, value),) = load_yaml(yaml_text, "").items()
    assert parse_param(option) == (name, value)
    # the same types too: 1e-4 is a float, 8 an int, true a bool
    assert [type(v) for v in _leaves(parse_param(option)[1])] == [type(v) for v in _leaves(value)]


def _leaves(value: object) -> list[object]:
    if isinstance(value, dict):
        return list(value.values())
    return list(value) if isinstance(value, list) else [value]


def test_set_values_convert_as_yaml_scalars() -> None:
    assert scalar("3") == 3 and isinstance(scalar("3"), int)
    assert scalar("1e-4") == 0.0001
    assert scalar("true") is True
    assert scalar("null") is None
    assert scalar("random") == "random"
    assert scalar("a: b") == "a: b"  # a --set value never becomes a mapping
    assert parse_sets(["epochs=3", "sampler.seed=1", "epochs=4", "name=other"]) == {
        "epochs": 4,
        "sampler.seed": 1,
        "name": "other",
    }
    assert parse_sets(["params.learning_rate=0.1,0.01"]) == {"params.learning_rate": [0.1, 0.01]}


def test_set_overrides_fields_for_validate(study: Path) -> None:
    code, out = invoke(
        "validate",
        str(study),
        "--set", "epochs=3",
        "--set", "params.learning_rate=0.1,0.01",
        "--set", "sampler=random",
        "--set", "name=other",
        "--set", "params.batch_norm=true",
    )  # fmt: skip
    assert code == 0, out
    assert out.splitlines()[0] == (
        "ok: study other on digits, maximize val_accuracy, 20 trials of at most 3 epochs, "
        "sampler random, pruner median"
    )
    assert "  learning_rate: one of 0.1, 0.01" in out.splitlines()
    assert "  depth: 1..3, uniform (integer)" in out.splitlines()
    assert "  batch_norm: fixed true" in out.splitlines()
    assert study.read_text() == STUDY  # an override changes this command, not the file


def test_set_grid_override_shows_the_grid(study: Path) -> None:
    code, out = invoke(
        "validate",
        str(study),
        "--set", "sampler=grid",
        "--set", "trials=null",
        "--set", "params.learning_rate=0.1,0.01,0.001",
        "--set", "params.depth=1..3:step=1",
    )  # fmt: skip
    assert code == 0, out
    assert "grid size: 9" in out.splitlines()


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("epochs", "expected KEY=VALUE, e.g. epochs=3"),
        ("=3", "expected KEY=VALUE, e.g. epochs=3"),
        ("epochs=", "expected KEY=VALUE, e.g. epochs=3"),
        ("epochs..x=3", "'epochs..x' is not a field"),
        ("params.learning_rate=1..", "a range needs both ends, low..high, got '1..'"),
        ("params.learning_rate=..1", "a range needs both ends"),
        ("params.learning_rate=1e-4..1e-1:log:num=x", ":num= must be a number, got 'x'"),
        ("params.learning_rate=1e-4..1e-1:num=2.5", ":num= must be a whole number, got '2.5'"),
        ("params.learning_rate=1e-4..1e-1:step=", ":step= must be a number, got ''"),
        ("params.learning_rate=1e-4..1e-1:lg", "unknown suffix :lg; known: :log, :log1m"),
        ("params.learning_rate=1e-4..1e-1:log:log1m", "give one of :log and :log1m"),
        ("params.learning_rate=1e-4..1e-1:num=3:num=4", ":num= is given twice"),
        ("params.depth=a..3", "low must be a number, got 'a'"),
        ("params.learning_rate=0.1,,0.01", "a list a,b,c has an empty item"),
        ("params.learning_rate=0.1,0.01:log", "suffixes (:log, :log1m, :num=N, :step=S) only"),
    ],
)
def test_malformed_set_is_one_line_naming_it(study: Path, value: str, problem: str) -> None:
    code, out = invoke("validate", str(study), "--set", value)
    assert code == 2
    (line,) = out.splitlines()
    assert line.startswith(f"error: --set '{value}': ")
    assert problem in line


def test_malformed_param_syntax_raises_spec_error() -> None:
    with pytest.raises(SpecError, match=r"--param 'lr=1\.\.': a range needs both ends"):
        parse_param("lr=1..")


def test_set_breaking_a_rule_gets_validates_message(study: Path, tmp_path: Path) -> None:
    code, out = invoke("validate", str(study), "--set", "params.learning_rate=1e-4..1e-1:num=4")
    assert code == 2
    assert out == (
        f"error: {study}: params.learning_rate.num: only used with sampler: grid "
        "(points of the grid)\n"
    )
    # the same value written in a file gets the same message
    edited = tmp_path / "edited.yaml"
    edited.write_text(STUDY.replace("log: true}", "log: true, num: 4}"))
    assert invoke("validate", str(edited))[1] == out.replace(str(study), str(edited))
    code, out = invoke("validate", str(study), "--set", "epochs=0", "--set", "colour=red")
    assert code == 2
    assert out.splitlines() == [
        f"error: {study}: colour: unknown field; known fields: name, dataset, metric, "
        "direction, epochs, sampler, pruner, trials, timeout, seed, params, keep_models, "
        "restore_best_weights, diverge_factor, checkpoint_every, description",
        f"error: {study}: epochs: must be an integer >= 1, got 0",
    ]


def test_validate_with_set_imports_no_tensorflow(study: Path) -> None:
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from automl.cli.app import app\n"
        f"r = CliRunner().invoke(app, ['validate', {str(study)!r}, '--set', 'epochs=3'])\n"
        "assert r.exit_code == 0, r.output\n"
        "heavy = [m for m in ('tensorflow', 'keras', 'mlflow') if m in sys.modules]\n"
        "print(heavy)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert result.stdout.strip() == "[]"


def complete(env: dict[str, str]) -> list[str]:
    env = {"_AUTOML_COMPLETE": "complete_bash", **env}
    return CliRunner().invoke(app, [], prog_name="automl", env=env).output.split()


def test_completion_of_study_files_fields_and_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import optuna

    from automl.run.storage import open_storage

    monkeypatch.chdir(tmp_path)
    (tmp_path / "studies").mkdir()
    for name in ("a.yaml", "b.yml", "notes.txt"):
        (tmp_path / "studies" / name).write_text(STUDY)
    journal = tmp_path / "s.journal"
    monkeypatch.setenv("AUTOML_STORAGE", str(journal))
    for name in ("digits-a", "digits-b", "other"):
        optuna.create_study(study_name=name, storage=open_storage(str(journal)))

    assert complete({"COMP_WORDS": "automl run stu", "COMP_CWORD": "2"}) == [
        "studies/a.yaml",
        "studies/b.yml",
    ]
    words = complete({"COMP_WORDS": "automl validate studies/a.yaml --set par", "COMP_CWORD": "4"})
    assert "params.learning_rate=" in words and "epochs=" not in words
    # zsh keeps `name=dig` one word (bash splits words at `=`)
    result = CliRunner().invoke(
        app,
        [],
        prog_name="automl",
        env={
            "_AUTOML_COMPLETE": "complete_zsh",
            "_TYPER_COMPLETE_ARGS": "automl run studies/a.yaml --set name=dig",
        },
    )
    assert '"name=digits-a"' in result.output and '"name=digits-b"' in result.output
    assert "other" not in result.output


SECTIONS = """\
name: base
sampler: {name: tpe, seed: 1}
epochs: 3
params:
  learning_rate: [0.1, 0.01]
  depth: 2
"""


@pytest.mark.parametrize(
    ("sets", "expected"),
    [
        (["sampler.name.x=1"], "--set sampler.name.x: sampler.name is the value 'tpe', not a"),
        (["sampler.seed.x=1"], "--set sampler.seed.x: sampler.seed is the value 1, not a section"),
        (["epochs.x=1"], "--set epochs.x: epochs is the value 3, not a section; set it whole"),
        (["params.learning_rate.num=3"], "--set params.learning_rate.num: params.learning_rate"),
        (["params.learning_rate.low=3"], "--set params.learning_rate.low: params.learning_rate is"),
        (["params.depth.low=1"], "--set params.depth.low: params.depth is the value 2, not a"),
        (["name.x=1"], "--set name.x: name is the value 'base', not a section"),
        (["=1"], "--set '=1': expected KEY=VALUE"),
        (["epochs"], "--set 'epochs': expected KEY=VALUE"),
        (["epochs="], "--set 'epochs=': expected KEY=VALUE"),
        ([".epochs=1"], "--set '.epochs=1': '.epochs' is not a field"),
        (["sampler..seed=1"], "--set 'sampler..seed=1': 'sampler..seed' is not a field"),
        (["params.0=1"], "--set 'params.0=1': 'params.0' is not a field"),
    ],
)
def test_a_set_below_a_value_or_into_a_list_is_one_line(
    tmp_path: Path, sets: list[str], expected: str
) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(SECTIONS)
    code, out = invoke("validate", str(path), *[a for s in sets for a in ("--set", s)])
    assert code == 2
    (line,) = out.splitlines()
    assert line.startswith(f"error: {expected}"), line
    assert path.read_text() == SECTIONS


def test_a_set_reaches_into_a_section_a_name_stands_for(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("name: base\nsampler: random\npruner: median\n")
    code, out = invoke(
        "validate", str(path), "--set", "sampler.seed=4", "--set", "pruner.n_warmup_steps=1"
    )
    assert code == 0, out


@pytest.mark.parametrize("kind", ["npz", "folder"])
def test_set_dataset_takes_a_path_as_new_does(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("name: base\n")
    if kind == "npz":
        data = tmp_path / "images.npz"
    else:
        data = tmp_path / "images"
        data.mkdir()
    ((key, value),) = parse_sets([f"dataset={data}"]).items()
    assert (key, value) == ("dataset", {"name": kind, "path": str(data)})
    spec = load_spec(path, {key: value})
    assert (spec.dataset.name, spec.dataset.path) == (kind, str(data))
    assert parse_sets(["dataset=mnist"]) == {"dataset": "mnist"}
