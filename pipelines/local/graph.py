"""The step graph of a pipeline definition: every step (branch steps of ConditionSteps included), their
dependencies (explicit `DependsOn` and data references), and a topological order."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pipelines.local.definition_eval import DefinitionError, referenced_steps

SUPPORTED_STEP_TYPES = frozenset({"Processing", "Training", "Condition", "Fail", "Model"})


@dataclass
class StepNode:
    name: str
    type: str
    spec: dict[str, Any]
    depends_on: set[str] = field(default_factory=set)
    # (condition step name, "IfSteps" | "ElseSteps") when the step only runs on that branch
    branch: tuple[str, str] | None = None


def _collect(steps: list[dict[str, Any]], branch: tuple[str, str] | None, out: dict[str, StepNode]) -> None:
    for spec in steps:
        name = spec.get("Name")
        if not name:
            raise DefinitionError("a step has no Name")
        if name in out:
            raise DefinitionError(f"step name {name} appears twice")
        node = StepNode(name=name, type=spec.get("Type", ""), spec=spec, branch=branch)
        node.depends_on = set(spec.get("DependsOn") or []) | referenced_steps(spec.get("Arguments", {}))
        if branch is not None:
            node.depends_on.add(branch[0])
        out[name] = node
        if node.type == "Condition":
            args = spec.get("Arguments", {})
            # A ConditionStep depends on what its conditions read, not on its branch steps.
            node.depends_on = set(spec.get("DependsOn") or []) | referenced_steps(args.get("Conditions", []))
            if branch is not None:
                node.depends_on.add(branch[0])
            for key in ("IfSteps", "ElseSteps"):
                _collect(args.get(key) or [], (name, key), out)


def build_graph(definition: Mapping[str, Any]) -> dict[str, StepNode]:
    """All steps by name; raises on unknown references, cycles and unsupported step types (named)."""
    nodes: dict[str, StepNode] = {}
    _collect(list(definition.get("Steps", [])), None, nodes)
    for node in nodes.values():
        missing = sorted(d for d in node.depends_on if d not in nodes)
        if missing:
            raise DefinitionError(f"step {node.name} depends on unknown step(s): {', '.join(missing)}")
    unsupported = sorted(f"{n.name} ({n.type or 'no Type'})" for n in nodes.values()
                         if n.type not in SUPPORTED_STEP_TYPES)
    if unsupported:
        raise DefinitionError(
            "the local executor does not support step type(s): " + ", ".join(unsupported)
            + f"; supported: {', '.join(sorted(SUPPORTED_STEP_TYPES))}"
        )
    topological_order(nodes)  # raises on cycles
    return nodes


def topological_order(nodes: Mapping[str, StepNode]) -> list[str]:
    """Kahn's algorithm; ties broken by definition order so runs are reproducible."""
    position = {name: i for i, name in enumerate(nodes)}
    remaining = {name: set(node.depends_on) for name, node in nodes.items()}
    order: list[str] = []
    ready = sorted((n for n, deps in remaining.items() if not deps), key=position.__getitem__)
    while ready:
        name = ready.pop(0)
        order.append(name)
        for other, deps in remaining.items():
            if name in deps:
                deps.discard(name)
                if not deps and other not in order and other not in ready:
                    ready.append(other)
        ready.sort(key=position.__getitem__)
    if len(order) != len(nodes):
        stuck = sorted(set(nodes) - set(order))
        raise DefinitionError(f"the step dependencies form a cycle among: {', '.join(stuck)}")
    return order
