"""Reading a study file: YAML as users write it, its mistakes as one line, and overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from automl.errors import SpecError
from automl.spec.reading import apply_overrides, load_spec
from automl.spec.schema import Range

STUDIES = Path(__file__).resolve().parent.parent / "studies"


def test_scientific_notation_is_a_number(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(
        "name: s\nparams:\n  learning_rate: {low: 1e-4, high: 1e-1, log: true}\n  l2: 1e-5\n"
    )
    spec = load_spec(path)
    lr = next(p for p in spec.params if p.name == "learning_rate")
    assert lr.domain == Range(1e-4, 1e-1, "log")
    assert spec.fixed["l2"] == 1e-5


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("name: s\nparams:\n  learning_rate: [0.1, 0.01\n")
    with pytest.raises(SpecError) as info:
        load_spec(path)
    (line,) = info.value.lines()
    assert line.startswith(f"{path}: YAML syntax error at line 4")


def test_a_key_given_twice_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "dup.yaml"
    path.write_text("name: s\nepochs: 3\nepochs: 5\n")
    with pytest.raises(SpecError) as info:
        load_spec(path)
    assert info.value.lines() == [
        f"{path}: YAML syntax error at line 3, column 1: duplicate key 'epochs'"
    ]


def test_missing_file() -> None:
    with pytest.raises(SpecError, match="no such study file: nowhere.yaml"):
        load_spec("nowhere.yaml")


def test_overrides_set_dotted_keys() -> None:
    raw = {"name": "s", "sampler": "tpe", "params": {"depth": 2}}
    out = apply_overrides(raw, {"epochs": 3, "sampler.seed": 7, "params.depth": [1, 2]})
    assert out == {
        "name": "s",
        "sampler": {"name": "tpe", "seed": 7},
        "epochs": 3,
        "params": {"depth": [1, 2]},
    }
    assert raw["params"] == {"depth": 2}


@pytest.mark.parametrize("path", sorted(STUDIES.glob("**/*.yaml")), ids=lambda p: p.name)
def test_shipped_studies_are_valid(path: Path) -> None:
    spec = load_spec(path)
    assert spec.name
