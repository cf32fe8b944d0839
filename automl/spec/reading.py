"""Reading a study file: YAML text -> a raw mapping -> (with --set overrides) a StudySpec.

The only place YAML is parsed. The loader reads `1e-4` as a number, as users mean it, refuses a
key given twice or that is not text, a tag, and a document past the bounds below while it
composes it (before aliases can expand), and turns a syntax error into one SpecError line with
its line number; the rules themselves are `automl.spec.rules.parse`'s.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

import yaml

from automl.errors import SpecError
from automl.spec.problems import clip, quoted
from automl.spec.rules import parse
from automl.spec.schema import StudySpec

# A study file is a page of text: past these bounds it is a mistake or an attack (aliases that
# expand to gigabytes, nesting that exhausts Python's recursion), refused before it costs.
MAX_FILE_BYTES = 1_000_000
MAX_VALUES = 100_000  # values a document holds once each alias is spelled out
MAX_DEPTH = 50  # levels of nesting, aliases spelled out
MAX_MESSAGE = 200  # characters of a YAML error quoted in a problem
# The sections a bare name may stand for (`sampler: tpe` is {name: tpe}).
NAMED_SECTIONS = ("dataset", "sampler", "pruner")


class _Refused(yaml.MarkedYAMLError):
    """A document that parses but that a study file may not be: it is not a syntax error."""


class _Loader(yaml.SafeLoader):
    """A SafeLoader that reads `1e-4` as a number, as users mean it (YAML 1.1 wants `1.0e-4`),
    and refuses a tag, or a document past MAX_DEPTH or MAX_VALUES, while it composes it."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.depth = 0
        self.measured: dict[int, tuple[int, int]] = {}  # id(node) -> (values, depth) expanded

    def compose_node(self, parent: Any, index: Any) -> Any:
        mark = self.peek_event().start_mark
        if self.check_event(yaml.AliasEvent):
            anchored = self.anchors.get(self.peek_event().anchor)
            if anchored is not None and id(anchored) not in self.measured:
                raise _Refused(None, None, "an alias refers to the value that holds it", mark)
        tag = getattr(self.peek_event(), "tag", None)
        if tag not in (None, "!"):
            raise _Refused(
                None, None, f"a tag ({clip(tag)}) is not read; write the value plainly", mark
            )
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise _Refused(None, None, f"nested deeper than {MAX_DEPTH} levels", mark)
        node = cast(yaml.Node, super().compose_node(parent, index))
        self.depth -= 1
        values, depth = self.measure(node)
        if values > MAX_VALUES:
            raise _Refused(
                None, None, f"holds more than {MAX_VALUES} values once its aliases expand", mark
            )
        if depth > MAX_DEPTH:
            raise _Refused(
                None, None, f"nested deeper than {MAX_DEPTH} levels through aliases", mark
            )
        return node

    def measure(self, node: yaml.Node) -> tuple[int, int]:
        """The values and the depth of `node` with aliases spelled out (its children's known)."""
        if id(node) not in self.measured:
            children: list[yaml.Node] = []
            if isinstance(node, yaml.SequenceNode):
                children = list(node.value)
            elif isinstance(node, yaml.MappingNode):
                children = [n for pair in node.value for n in pair]
            sizes = [self.measured[id(c)] for c in children]
            self.measured[id(node)] = (
                1 + sum(s[0] for s in sizes),
                1 + max((s[1] for s in sizes), default=0),
            )
        return self.measured[id(node)]


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
    """Mappings refuse a key that is not text, and a key given twice (plain YAML keeps the last
    one silently)."""
    seen: set[str] = set()
    for key_node, _ in node.value:
        mark = key_node.start_mark
        if key_node.tag == "tag:yaml.org,2002:merge":
            raise _Refused(None, None, "merge keys (<<) are not read; write the fields out", mark)
        key = loader.construct_object(key_node, deep=deep)
        if not isinstance(key, str):
            raise _Refused(None, None, f"a key must be text (quote it), got {_key(key)}", mark)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {clip(repr(key))}", mark
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


def _key(key: Any) -> str:
    if isinstance(key, list | dict):
        return "a list" if isinstance(key, list) else "a mapping"
    return clip(repr(key))


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _unique_keys)


def load_yaml(text: str, source: str) -> Any:
    """Parse YAML text; a mistake becomes one SpecError line, with its line number."""
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        what = "" if isinstance(exc, _Refused) else "YAML syntax error at "
        problem = _one_line(": ".join(str(p) for p in (exc.context, exc.problem) if p) or exc)
        raise SpecError([f"{what}{where}{problem}" if what or where else problem], source) from None
    except yaml.reader.ReaderError as exc:
        raise SpecError(
            [f"a special character, #x{int(exc.character):04x}, at offset {exc.position}"], source
        ) from None
    except (yaml.YAMLError, ValueError, TypeError, OverflowError) as exc:
        # a value its tag cannot hold: `!!int abc`, a date such as 2024-02-30
        raise SpecError([f"YAML value error: {_one_line(exc)}"], source) from None


def _one_line(exc: object) -> str:
    return clip(" ".join(str(exc).split()), MAX_MESSAGE)


def read_raw(path: str | Path) -> dict[str, Any]:
    """Read a study file into a plain mapping (for overrides); the rules come in `parse`."""
    p = Path(path)
    if not p.is_file():
        raise SpecError([f"no such study file: {p}"])
    try:
        with p.open("rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise SpecError([f"cannot read study file: {_one_line(exc)}"], str(p)) from None
    if len(data) > MAX_FILE_BYTES:
        raise SpecError(
            [f"larger than {MAX_FILE_BYTES} bytes; a study file is a page of YAML"], str(p)
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SpecError(
            [f"not UTF-8 text: byte {data[exc.start]:#04x} at offset {exc.start}"], str(p)
        ) from None
    raw = load_yaml(text, str(p))
    if not isinstance(raw, dict):
        what = "empty" if raw is None else f"a {type(raw).__name__}"
        raise SpecError(
            [f"the file must be a mapping of fields (name:, params:, ...), got {what}"], str(p)
        )
    return raw


def load_spec(path: str | Path, overrides: Mapping[str, Any] | None = None) -> StudySpec:
    """Read, override and validate a study file."""
    raw = read_raw(path)
    if overrides:
        raw = apply_overrides(raw, overrides)
    return parse(raw, source=str(path))


def apply_overrides(raw: dict[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Set dotted keys (`epochs`, `params.learning_rate`, `sampler.seed`) in a copy of `raw`.

    A key reaches into sections only: `sampler: tpe` overridden by `sampler.seed=1` becomes
    {name: tpe, seed: 1}, but a key below a value or a list (`sampler.name.x`) is refused.
    """
    out: dict[str, Any] = _deep_copy(raw)
    for key, value in overrides.items():
        parts = key.split(".")
        if not all(parts):
            raise SpecError(
                [f"--set {clip(key)}: a key is fields joined by dots, e.g. sampler.seed"]
            )
        node = out
        for depth, part in enumerate(parts[:-1]):
            child = node.get(part)
            if child is None:
                child = {}
            elif isinstance(child, str) and depth == 0 and part in NAMED_SECTIONS:
                child = {"name": child}
            elif not isinstance(child, dict):
                where = ".".join(parts[: depth + 1])
                what = "a list" if isinstance(child, list) else f"the value {quoted(child)}"
                raise SpecError(
                    [
                        f"--set {clip(key)}: {where} is {what}, not a section; set it whole: "
                        f"--set {where}=..."
                    ]
                )
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
