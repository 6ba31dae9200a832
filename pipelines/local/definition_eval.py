"""Evaluate the expressions of a pipeline definition: parameters, `Get`, `Std:Join`, `Std:JsonGet`, conditions.

The definition is the JSON of SDK v3 `Pipeline.definition()`. Expressions are dicts with exactly one of
the keys `Get`, `Std:Join`, `Std:JsonGet`; anything else is data and is walked recursively.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from privml.errors import PrivmlError

_PARAMETER_TYPES: dict[str, Callable[[Any], Any]] = {
    "String": str,
    "Integer": int,
    "Float": float,
    "Boolean": lambda v: v if isinstance(v, bool) else str(v).strip().lower() in ("true", "1", "yes"),
}

# List elements addressed by name in a property path (Outputs['train'], Channels['train'] ...).
_NAME_KEYS = ("OutputName", "InputName", "ChannelName", "MetricName", "Name", "PropertyFileName")
_TOKEN = re.compile(r"\.?([A-Za-z_][A-Za-z0-9_]*)|\[\s*'([^']*)'\s*\]|\[\s*\"([^\"]*)\"\s*\]|\[\s*(\d+)\s*\]")


class DefinitionError(PrivmlError):
    """The definition cannot be evaluated (unknown parameter, reference, step or expression)."""


def parse_parameters(definition: Mapping[str, Any], overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Parameter values: each declared parameter's default, replaced by an override of the same name."""
    declared = {p["Name"]: p for p in definition.get("Parameters", [])}
    unknown = sorted(set(overrides or {}) - set(declared))
    if unknown:
        raise DefinitionError(f"unknown pipeline parameter(s): {', '.join(unknown)}")
    values: dict[str, Any] = {}
    for name, spec in declared.items():
        kind = spec.get("Type", "String")
        if kind not in _PARAMETER_TYPES:
            raise DefinitionError(f"parameter {name}: unsupported type {kind}")
        if overrides and name in overrides:
            raw = overrides[name]
        elif "DefaultValue" in spec:
            raw = spec["DefaultValue"]
        else:
            raise DefinitionError(f"parameter {name} has no default and no value was given")
        try:
            values[name] = _PARAMETER_TYPES[kind](raw)
        except (TypeError, ValueError) as exc:
            raise DefinitionError(f"parameter {name}: not a valid {kind}") from exc
        if spec.get("EnumValues") and values[name] not in spec["EnumValues"]:
            raise DefinitionError(f"parameter {name}: value not among its EnumValues")
    return values


@dataclass
class EvalContext:
    """What expressions can see: parameters, execution variables, finished steps' properties and files."""

    parameters: dict[str, Any]
    execution: dict[str, Any] = field(default_factory=dict)
    step_properties: dict[str, dict[str, Any]] = field(default_factory=dict)
    # (step name, property file name) -> a loader returning the parsed JSON (read lazily, once)
    property_files: dict[tuple[str, str], Callable[[], Any]] = field(default_factory=dict)
    _loaded: dict[tuple[str, str], Any] = field(default_factory=dict)

    def property_file(self, step: str, name: str) -> Any:
        key = (step, name)
        if key not in self._loaded:
            if key not in self.property_files:
                raise DefinitionError(f"property file {name} of step {step} is not available")
            self._loaded[key] = self.property_files[key]()
        return self._loaded[key]


def path_tokens(path: str) -> list[str | int]:
    """`A.B['x'].C[0]` → ['A', 'B', 'x', 'C', 0]."""
    tokens: list[str | int] = []
    pos = 0
    while pos < len(path):
        m = _TOKEN.match(path, pos)
        if not m or m.end() == pos:
            raise DefinitionError(f"cannot parse path {path!r} at position {pos}")
        name, sq, dq, idx = m.groups()
        if idx is not None:
            tokens.append(int(idx))
        else:
            tokens.append(next(t for t in (name, sq, dq) if t is not None))
        pos = m.end()
    return tokens


def walk(value: Any, tokens: list[str | int], what: str) -> Any:
    for tok in tokens:
        if isinstance(value, list) and isinstance(tok, str):
            found = [v for v in value if isinstance(v, dict) and any(v.get(k) == tok for k in _NAME_KEYS)]
            if not found:
                raise DefinitionError(f"{what}: no element named {tok!r}")
            value = found[0]
        elif isinstance(value, list) and isinstance(tok, int):
            if tok >= len(value):
                raise DefinitionError(f"{what}: index {tok} out of range")
            value = value[tok]
        elif isinstance(value, dict) and tok in value:
            value = value[tok]
        else:
            raise DefinitionError(f"{what}: no property {tok!r}")
    return value


def _get(ref: str, ctx: EvalContext) -> Any:
    tokens = path_tokens(ref)
    head = tokens[0]
    if head == "Parameters":
        name = tokens[1] if len(tokens) > 1 else ""
        if name not in ctx.parameters:
            raise DefinitionError(f"unknown parameter {name!r} in Get {ref}")
        return ctx.parameters[name]
    if head == "Execution":
        name = str(tokens[1]) if len(tokens) > 1 else ""
        if name not in ctx.execution:
            raise DefinitionError(f"unknown execution variable {name!r}")
        return ctx.execution[name]
    if head == "Steps":
        step = str(tokens[1])
        if step not in ctx.step_properties:
            raise DefinitionError(f"Get {ref}: step {step} has not run")
        return walk(ctx.step_properties[step], tokens[2:], f"Get {ref}")
    raise DefinitionError(f"unsupported Get reference {ref}")


def _to_string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def resolve(expr: Any, ctx: EvalContext) -> Any:
    """Evaluate every expression inside `expr`; plain data is returned as is (copied)."""
    if isinstance(expr, list):
        return [resolve(v, ctx) for v in expr]
    if not isinstance(expr, dict):
        return expr
    if len(expr) == 1:
        ((key, arg),) = expr.items()
        if key == "Get":
            return _get(arg, ctx)
        if key == "Std:Join":
            return str(arg.get("On", "")).join(_to_string(resolve(v, ctx)) for v in arg.get("Values", []))
        if key == "Std:JsonGet":
            return _json_get(arg, ctx)
        if key.startswith("Std:"):
            raise DefinitionError(f"unsupported function {key}")
    return {k: resolve(v, ctx) for k, v in expr.items()}


def _json_get(arg: Mapping[str, Any], ctx: EvalContext) -> Any:
    if "PropertyFile" not in arg:
        raise DefinitionError("Std:JsonGet without PropertyFile (S3Uri form) is not supported")
    ref = arg["PropertyFile"]["Get"] if isinstance(arg["PropertyFile"], dict) else arg["PropertyFile"]
    tokens = path_tokens(ref)
    if len(tokens) != 4 or tokens[0] != "Steps" or tokens[2] != "PropertyFiles":
        raise DefinitionError(f"bad PropertyFile reference {ref}")
    data = ctx.property_file(str(tokens[1]), str(tokens[3]))
    return walk(data, path_tokens(str(arg["Path"])), f"JsonGet {tokens[3]}:{arg['Path']}")


def referenced_steps(expr: Any) -> set[str]:
    """Names of steps an expression reads from (data dependencies)."""
    found: set[str] = set()
    if isinstance(expr, list):
        for v in expr:
            found |= referenced_steps(v)
    elif isinstance(expr, dict):
        get = expr.get("Get")
        if isinstance(get, str) and get.startswith("Steps."):
            found.add(str(path_tokens(get)[1]))
        for v in expr.values():
            found |= referenced_steps(v)
    return found


def _compare(kind: str, left: Any, right: Any) -> bool:
    if kind == "Equals":
        return bool(left == right) or _to_string(left) == _to_string(right)
    try:
        lnum, rnum = float(left), float(right)
    except (TypeError, ValueError) as exc:
        raise DefinitionError(f"condition {kind}: operands are not numbers") from exc
    return {
        "GreaterThan": lnum > rnum,
        "GreaterThanOrEqualTo": lnum >= rnum,
        "LessThan": lnum < rnum,
        "LessThanOrEqualTo": lnum <= rnum,
    }[kind]


def evaluate_condition(cond: Mapping[str, Any], ctx: EvalContext) -> bool:
    kind = cond.get("Type")
    if kind in ("Equals", "GreaterThan", "GreaterThanOrEqualTo", "LessThan", "LessThanOrEqualTo"):
        return _compare(kind, resolve(cond["LeftValue"], ctx), resolve(cond["RightValue"], ctx))
    if kind == "In":
        query = resolve(cond["QueryValue"], ctx)
        return any(_compare("Equals", query, resolve(v, ctx)) for v in cond.get("Values", []))
    if kind == "Not":
        return not evaluate_condition(cond["Condition"], ctx)
    if kind == "Or":
        return any(evaluate_condition(c, ctx) for c in cond.get("Conditions", []))
    raise DefinitionError(f"unsupported condition type {kind}")


def evaluate_conditions(conditions: list[Mapping[str, Any]], ctx: EvalContext) -> bool:
    """A ConditionStep's list is a logical AND."""
    return all(evaluate_condition(c, ctx) for c in conditions)
