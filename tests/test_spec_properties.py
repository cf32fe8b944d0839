"""Whatever a study file or a --set says, reading it gives a StudySpec or an AutomlError of one
line per problem: never another exception, never more than a bounded time and memory."""

from __future__ import annotations

import tracemalloc
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from automl.errors import AutomlError
from automl.spec.overrides import parse_sets
from automl.spec.reading import load_spec, load_yaml
from automl.spec.rules import parse
from automl.spec.schema import DATASET_OPTIONS, PARAMS, PRUNERS, SAMPLERS, TOP_LEVEL, StudySpec

MAX_LINE = 400  # characters of one problem, source included
MAX_MEMORY = 64 * 2**20  # bytes one example may allocate at its peak
SETTINGS = settings(
    max_examples=150,
    deadline=2000,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

WORDS = [*TOP_LEVEL, *DATASET_OPTIONS, *PARAMS, *SAMPLERS, *PRUNERS, "low", "high", "log"]
WORDS += ["scale", "step", "num", "seed", "log1m", "patience", "percentile", "reduction_factor"]
TOKENS = [*(f"{w}: " for w in WORDS), *WORDS, "\n", "  ", "- ", "[", "]", "{", "}", ", ", ": "]
TOKENS += ["&a ", "*a", "&b ", "*b", "!!int ", "!!float ", "<<: ", "---\n", "'", '"', "#", "\t"]
TOKENS += ["1e-4", "0", "-1", "2", "1e12", ".nan", ".inf", "true", "null", "~", "0.5", "1..3"]

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.sampled_from(WORDS)
    | st.text(max_size=20)
)
keys = st.sampled_from(WORDS) | st.text(max_size=10)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(keys, inner, max_size=5),
    max_leaves=12,
)
study_mappings = st.dictionaries(st.sampled_from(WORDS), values, max_size=8).map(
    lambda raw: {"name": "s", **raw}
)
yamlish = st.lists(st.sampled_from(TOKENS) | st.text(max_size=5), max_size=40).map("".join)
set_strings = st.lists(
    st.builds(
        lambda key, value: f"{key}={value}",
        st.lists(st.sampled_from(WORDS) | st.text(max_size=4), min_size=1, max_size=3).map(
            ".".join
        ),
        st.lists(st.sampled_from(TOKENS) | st.text(max_size=4), max_size=6).map("".join),
    )
    | st.text(max_size=20),
    max_size=4,
)


def outcome(read: Any) -> StudySpec | AutomlError:
    """What reading gives, checked: a StudySpec, or one short line per problem."""
    tracemalloc.start()
    try:
        result = read()
        assert isinstance(result, StudySpec)
        return result
    except AutomlError as exc:
        lines = exc.lines()
        assert lines
        assert all(line and "\n" not in line and len(line) <= MAX_LINE for line in lines), lines
        return exc
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert peak < MAX_MEMORY


@SETTINGS
@given(text=yamlish)
def test_any_text_as_a_study_file(tmp_path: Path, text: str) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    outcome(lambda: load_spec(path))


@SETTINGS
@given(raw=study_mappings)
def test_any_mapping_as_a_study_file(tmp_path: Path, raw: dict[str, Any]) -> None:
    outcome(lambda: parse(raw))
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(raw))
    outcome(lambda: load_spec(path))


@SETTINGS
@given(sets=set_strings, text=yamlish)
def test_any_set_on_a_study_file(tmp_path: Path, sets: list[str], text: str) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("name: s\nsampler: tpe\nparams:\n  depth: [1, 2]\n")
    outcome(lambda: load_spec(path, parse_sets(sets)))
    outcome(lambda: parse({"name": "s", "description": load_yaml(text, "")}))
