"""The packages' shape as a reader relies on it: imports run one way, with no cycle, and every
module says what it holds. Checked for automl and for the experiments beside it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Each package, with fewer modules than it has: proof that the whole package was read.
PACKAGES = {"automl": 40, "experiments": 10}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported(tree: ast.Module, module: str, is_package: bool) -> set[str]:
    """Modules of its own package a module imports at run time, function-local imports
    included."""
    package = module.split(".")[0]
    typing_only = {
        id(node)
        for branch in ast.walk(tree)
        if isinstance(branch, ast.If) and "TYPE_CHECKING" in ast.unparse(branch.test)
        for statement in branch.body
        for node in ast.walk(statement)
    }
    names: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = module.split(".") if is_package else module.split(".")[:-1]
            prefix = ".".join(base[: len(base) - node.level + 1]) if node.level else ""
            target = ".".join(p for p in (prefix, node.module or "") if p)
            names.add(target)
            names.update(f"{target}.{alias.name}" for alias in node.names)
    return {n for n in names if n == package or n.startswith(package + ".")}


def _graph(package: str) -> dict[str, set[str]]:
    paths = {_module_name(p): p for p in (ROOT / package).rglob("*.py")}

    def resolve(name: str) -> str | None:
        while name and name not in paths:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for module, path in paths.items():
        tree = ast.parse(path.read_text())
        targets = {resolve(n) for n in _imported(tree, module, path.name == "__init__.py")}
        graph[module] = {
            t
            for t in targets
            if t
            and t != module
            and not module.startswith(t + ".")
            and not t.startswith(module + ".")
        }
    return graph


def _cycle_from(start: str, graph: dict[str, set[str]]) -> list[str] | None:
    """A path of imports that leads from `start` back to it, if there is one."""
    stack, seen = [(start, [start])], set()
    while stack:
        module, path = stack.pop()
        for target in graph[module]:
            if target == start:
                return [*path, start]
            if target not in seen:
                seen.add(target)
                stack.append((target, [*path, target]))
    return None


@pytest.mark.parametrize("package", PACKAGES)
def test_the_package_has_no_import_cycle(package: str) -> None:
    graph = _graph(package)
    assert len(graph) > PACKAGES[package]
    cycles = [c for m in sorted(graph) if (c := _cycle_from(m, graph))]
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles[:5])


@pytest.mark.parametrize("package", PACKAGES)
def test_every_module_says_what_it_holds(package: str) -> None:
    undocumented = [
        str(p.relative_to(ROOT))
        for p in (ROOT / package).rglob("*.py")
        if not ast.get_docstring(ast.parse(p.read_text()))
    ]
    assert not undocumented
