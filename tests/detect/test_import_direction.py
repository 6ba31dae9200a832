"""Imports inside privml.detect run one way: the module graph (every import, also those under
TYPE_CHECKING or inside functions) has no cycle, so each module can be read knowing only those below it."""

from __future__ import annotations

import ast
from pathlib import Path

import privml.detect

PACKAGE = Path(privml.detect.__file__).resolve().parent


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "privml.detect":
                found.update(f"privml.detect.{alias.name}" for alias in node.names)
            elif node.module.startswith("privml.detect."):
                found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("privml.detect."))
    return found


def _graph() -> dict[str, set[str]]:
    modules = {f"privml.detect.{p.stem}": p for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    return {name: {m for m in _imports(path) if m in modules and m != name} for name, path in modules.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt):], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_modules_inside_detect_import_one_way() -> None:
    graph = _graph()
    assert graph.get("privml.detect.scan")  # the walk sees real imports
    assert _cycle(graph) is None, " -> ".join(_cycle(graph) or [])


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_which_actions_need_a_key_comes_from_the_technique_registry() -> None:
    from privml.detect.proposals import Proposal
    from privml.policy import Role
    from privml.transforms import technique_class, technique_names

    source = (PACKAGE / "proposals.py").read_text(encoding="utf-8") + (PACKAGE / "policy.py").read_text()
    assert "_KEYED" not in source  # no second list of keyed techniques
    keyed = {name for name in technique_names() if technique_class(name).needs_key}
    assert keyed >= {"tokenize", "pseudonymize", "encrypt", "date_shift"}
    assert {name for name in technique_names() if Proposal(Role.FEATURE, name).needs_key} == keyed
