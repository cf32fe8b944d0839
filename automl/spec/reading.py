"""Reading a study file: YAML text -> a raw mapping -> (with --set overrides) a StudySpec.

The only place YAML is parsed. The loader reads `1e-4` as a number, as users mean it, refuses a
key given twice, and turns a syntax error into one SpecError line with its line number; the
rules themselves are `automl.spec.rules.parse`'s.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from automl.errors import SpecError
from automl.spec.rules import parse
from automl.spec.schema import StudySpec


class _Loader(yaml.SafeLoader):
    """A SafeLoader that reads `1e-4` as a number, as users mean it (YAML 1.1 wants `1.0e-4`)."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
        |\.[0-9_]+(?:[eE][-+][0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+0123456789."),
)


def _unique_keys(loader: _Loader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    """Mappings refuse a key given twice: plain YAML keeps the last one silently."""
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _unique_keys)


def load_yaml(text: str, source: str) -> Any:
    """Parse YAML text; a syntax error becomes one SpecError line with its line number."""
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise SpecError([f"YAML syntax error at {where}{exc.problem or exc}"], source) from None
    except yaml.YAMLError as exc:
        raise SpecError([f"YAML syntax error: {exc}"], source) from None


def read_raw(path: str | Path) -> dict[str, Any]:
    """Read a study file into a plain mapping (for overrides); the rules come in `parse`."""
    p = Path(path)
    if not p.is_file():
        raise SpecError([f"no such study file: {p}"])
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError([f"cannot read study file: {exc}"], str(p)) from None
    data = load_yaml(text, str(p))
    if not isinstance(data, dict):
        raise SpecError(["the file must be a mapping of fields (name:, params:, ...)"], str(p))
    return data


def load_spec(path: str | Path, overrides: Mapping[str, Any] | None = None) -> StudySpec:
    """Read, override and validate a study file."""
    raw = read_raw(path)
    if overrides:
        raw = apply_overrides(raw, overrides)
    return parse(raw, source=str(path))


def apply_overrides(raw: dict[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Set dotted keys (`epochs`, `params.learning_rate`, `sampler.seed`) in a copy of `raw`."""
    out: dict[str, Any] = _deep_copy(raw)
    for key, value in overrides.items():
        parts = key.split(".")
        node = out
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                # `sampler: tpe` overridden by `sampler.seed=1` becomes {name: tpe, seed: 1}
                child = {"name": child} if isinstance(child, str) else {}
                node[part] = child
            node = child
        node[parts[-1]] = value
    return out


def _deep_copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _deep_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_deep_copy(v) for v in value]
    return value
