"""Reading a study file: YAML as users write it, its mistakes as one line, and overrides."""

from __future__ import annotations

import resource
import subprocess
import sys
import time
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


def _aliases(levels: int, fan: int) -> str:
    """A billion-laughs document: each level's list holds `fan` aliases of the level before."""
    lines = ["name: s", "a0: &a0 [" + ", ".join(["lol"] * fan) + "]"]
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * fan) + "]")
    return "\n".join(lines) + "\n"


COSTLY = {
    "alias bomb of lists": (_aliases(9, 9), "holds more than 100000 values once its aliases"),
    "alias bomb of mappings": (
        "name: s\na0: &a0 x\n"
        + "".join(f"a{i}: &a{i} {{x: *a{i - 1}, y: *a{i - 1}}}\n" for i in range(1, 40)),
        "holds more than 100000 values",
    ),
    "alias bomb in a section": (
        "name: s\nx:\n" + "".join(f"  {line}\n" for line in _aliases(9, 9).splitlines()[1:]),
        "holds more than 100000 values",
    ),
    "an alias inside itself": ("name: s\nx: &a [1, *a]\n", "an alias refers to the value"),
    "lists 10^5 deep": ("name: s\nparams: " + "[" * 10**5 + "]" * 10**5 + "\n", "nested deeper"),
    "mappings 10^5 deep": ("name: s\nx: " + "{a: " * 10**5 + "1" + "}" * 10**5, "nested deeper"),
    "block mappings deep": (
        "name: s\n" + "".join(" " * i + "a:\n" for i in range(200)),
        "nested deeper than 50 levels",
    ),
    "an integer key": ("name: s\n1: x\n", "line 2, column 1: a key must be text (quote it), got 1"),
    "a list key": ("name: s\n[a]: b\n", "a key must be text (quote it), got a list"),
    "a null key": ("name: s\nnull: 3\n", "a key must be text (quote it), got None"),
    "a mapping key": ("name: s\n{a: 1}: 2\n", "a key must be text (quote it), got a mapping"),
    "a boolean key in params": ("name: s\nparams:\n  yes: 3\n", "line 3, column 3: a key"),
    "a float key in sampler": ("name: s\nsampler: {name: tpe, 3.5: 1}\n", "got 3.5"),
    "a merge key": ("name: s\nb: &b {x: 1}\nc: {<<: *b}\n", "merge keys (<<) are not read"),
    "two documents": ("name: s\n---\nname: t\n", "expected a single document"),
    "a tab": ("name: s\nparams:\n\tdepth: 2\n", "found character '\\t'"),
    "empty": ("", "must be a mapping of fields (name:, params:, ...), got empty"),
    "a list": ("- a\n- b\n", "must be a mapping of fields (name:, params:, ...), got a list"),
    "a NUL character": ("name: s\x00\n", "a special character, #x0000, at offset 7"),
    "an impossible date": ("name: s\ndescription: 2024-02-30\n", "YAML value error"),
    "a tag": ("name: s\nepochs: !!int abc\n", "a tag (tag:yaml.org,2002:int) is not read"),
    "an empty tagged value": ("name: s\nepochs: !!int\n", "line 2, column 9: a tag"),
    "a python tag": ("name: !!python/object:os.system x\n", "a tag (tag:yaml.org,2002:python"),
    "a local tag": ("name: s\nparams: !mine {depth: 2}\n", "a tag (!mine) is not read"),
    "a huge value": ("name: s\nmetric: " + "v" * 900_000 + "\n", "metric: must be one of"),
    "a huge key": ("name: s\n" + "k" * 900_000 + ": 1\n", "could not find expected ':'"),
}


@pytest.mark.parametrize("text", [t for t, _ in COSTLY.values()], ids=list(COSTLY))
def test_costly_or_malformed_files_get_one_short_line(tmp_path: Path, text: str) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(text)
    expected = next(e for t, e in COSTLY.values() if t == text)
    start = time.monotonic()
    with pytest.raises(SpecError) as info:
        load_spec(path)
    assert time.monotonic() - start < 5
    (line,) = info.value.lines()
    assert line.startswith(f"{path}: ") and expected in line
    assert len(line) < 300 and "\n" not in line


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"name: s\xff\n", "not UTF-8 text: byte 0xff at offset 7"),
        ("name: s\ndescription: café\n".encode("latin-1"), "not UTF-8 text: byte 0xe9"),
        (b"name: s\ndescription: " + b"x" * 1_000_001 + b"\n", "larger than 1000000 bytes"),
    ],
    ids=["0xff", "latin-1", "over 1 MB"],
)
def test_files_that_are_not_a_page_of_utf8_are_refused(
    tmp_path: Path, data: bytes, expected: str
) -> None:
    path = tmp_path / "s.yaml"
    path.write_bytes(data)
    with pytest.raises(SpecError) as info:
        load_spec(path)
    (line,) = info.value.lines()
    assert line.startswith(f"{path}: ") and expected in line


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (3 * 2**30, 3 * 2**30))


BOMB = _aliases(12, 12)
GRID = "name: s\nsampler: grid\nparams:\n" + "".join(
    f"  {n}: {{low: 0.01, high: 0.5, num: 1000}}\n" for n in ("beta_1", "l2", "momentum", "dropout")
)


@pytest.mark.parametrize("command", ["validate", "run"])
@pytest.mark.parametrize(
    ("text", "sets", "expected"),
    [
        (BOMB, [], "holds more than 100000 values once its aliases expand"),
        ("name: s\nparams: " + "[" * 10**5 + "]" * 10**5, [], "nested deeper than 50 levels"),
        (GRID, [], "the grid has 1000000000000 cells (beta_1 1000 x l2 1000 x"),
        (GRID, ["--set", "params.l2=0..1:num=1000000000000"], "l2.num: must be an integer from 2"),
        (GRID, ["--set", "params.l2=0..1:step=1e-12"], "spreads over 1000000000001 grid points"),
        ("name: s\npruner: {name: hyperband, reduction_factor: 1}\n", [], "reduction_factor"),
    ],
    ids=["alias bomb", "deep", "grid 10^12", "--set num", "--set step", "hyperband"],
)
def test_validate_and_run_refuse_in_seconds_and_bounded_memory(
    tmp_path: Path, command: str, text: str, sets: list[str], expected: str
) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(text)
    journal, db = tmp_path / "s.journal", tmp_path / "mlflow.db"
    where = ["--storage", str(journal), "--tracking-uri", f"sqlite:///{db}"]
    argv = [command, str(path), *sets, *(where if command == "run" else [])]
    start = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "automl.cli.app", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=_limit_memory,
        check=False,
    )
    assert time.monotonic() - start < 30
    assert done.returncode == 2, done.stderr
    (line,) = done.stderr.splitlines()
    assert line.startswith("error: ") and expected in line and len(line) < 300
    assert not journal.exists() and not db.exists()
