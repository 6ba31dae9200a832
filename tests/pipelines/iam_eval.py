"""A small IAM policy evaluator for the tests: Allow/Deny, Action/NotAction, Resource/NotResource,
Principal, and the condition operators privml's documents use, with IAM's rules for absent keys.

It follows the IAM policy evaluation logic (https://docs.aws.amazon.com/IAM/latest/UserGuide/
reference_policies_evaluation-logic.html): an explicit Deny anywhere wins; within one account an Allow
in the identity policy or the resource policy suffices (S3); KMS needs the key policy to allow the
principal, directly or by naming the account (which hands the decision to IAM policies). It is checked
against known cases and against moto's own evaluator in test_iam_eval.py.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Call:
    """One request as IAM sees it: who, which action, on what, with which context keys."""

    principal: str
    action: str
    resource: str
    context: dict[str, Any] = field(default_factory=dict)
    why: str = ""  # which step or command makes it (for failure messages)

    def __repr__(self) -> str:
        return f"{self.why}: {self.principal.rsplit(':', 1)[-1]} {self.action} {self.resource}"


def _as_list(value: Any) -> list:
    return value if isinstance(value, list) else [value]


def _wildcard(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.IGNORECASE if ignore_case else 0) is not None


def _arn_like(pattern: str, value: str) -> bool:
    # ArnLike compares each of the six colon-separated parts; a wildcard does not cross a colon boundary
    # into another part.
    p_parts, v_parts = pattern.split(":", 5), value.split(":", 5)
    return len(p_parts) == len(v_parts) == 6 and all(_wildcard(p, v) for p, v in zip(p_parts, v_parts, strict=True))


def _number(value: Any) -> float:
    return float(value)


_OPERATORS = {
    "StringEquals": lambda p, v: str(p) == str(v),
    "StringNotEquals": lambda p, v: str(p) == str(v),
    "StringEqualsIgnoreCase": lambda p, v: str(p).lower() == str(v).lower(),
    "StringLike": lambda p, v: _wildcard(str(p), str(v)),
    "StringNotLike": lambda p, v: _wildcard(str(p), str(v)),
    "ArnEquals": lambda p, v: str(p) == str(v),
    "ArnLike": lambda p, v: _arn_like(str(p), str(v)),
    "ArnNotEquals": lambda p, v: str(p) == str(v),
    "ArnNotLike": lambda p, v: _arn_like(str(p), str(v)),
    "Bool": lambda p, v: str(p).lower() == str(v).lower(),
    "NumericEquals": lambda p, v: _number(v) == _number(p),
    "NumericLessThan": lambda p, v: _number(v) < _number(p),
    "NumericLessThanEquals": lambda p, v: _number(v) <= _number(p),
    "NumericGreaterThan": lambda p, v: _number(v) > _number(p),
    "NumericGreaterThanEquals": lambda p, v: _number(v) >= _number(p),
}
_NEGATED = {"StringNotEquals", "StringNotLike", "ArnNotEquals", "ArnNotLike"}


def _context_value(context: dict[str, Any], key: str) -> Any:
    for name, value in context.items():
        if name.lower() == key.lower():  # condition key names are case-insensitive
            return value
    return None


def _condition_holds(operator: str, key: str, policy_values: Any, context: dict[str, Any]) -> bool:
    qualifier = ""
    if ":" in operator and operator.split(":", 1)[0] in ("ForAnyValue", "ForAllValues"):
        qualifier, operator = operator.split(":", 1)
    if_exists = operator.endswith("IfExists")
    operator = operator.removesuffix("IfExists")
    actual = _context_value(context, key)
    values = [str(v) for v in _as_list(policy_values)]
    if operator == "Null":
        return (actual is None) == (values[0].lower() == "true")
    if operator not in _OPERATORS:
        raise ValueError(f"condition operator {operator} is not supported by this evaluator")
    test = _OPERATORS[operator]
    if actual is None:
        return if_exists or operator in _NEGATED or qualifier == "ForAllValues"
    actuals = _as_list(actual)
    if operator in _NEGATED:
        # true when no policy value matches
        if qualifier == "ForAnyValue":
            return any(not any(test(p, a) for p in values) for a in actuals)
        return all(not any(test(p, a) for p in values) for a in actuals)
    if qualifier == "ForAllValues":
        return all(any(test(p, a) for p in values) for a in actuals)
    return any(test(p, a) for p in values for a in actuals)


def conditions_hold(conditions: dict[str, dict[str, Any]], context: dict[str, Any]) -> bool:
    return all(
        _condition_holds(operator, key, values, context)
        for operator, block in conditions.items()
        for key, values in block.items()
    )


def _principal_matches(principal_element: Any, principal: str) -> bool:
    if principal_element == "*":
        return True
    for kind, values in principal_element.items():
        for value in _as_list(values):
            if value == "*" or value == principal:
                return True
            if kind == "Service" and principal == f"service:{value}":
                return True
    return False


def statement_matches(statement: dict, call: Call, *, with_principal: bool) -> bool:
    if with_principal and not _principal_matches(statement.get("Principal", {}), call.principal):
        return False
    if "Action" in statement:
        if not any(_wildcard(a, call.action, ignore_case=True) for a in _as_list(statement["Action"])):
            return False
    elif any(_wildcard(a, call.action, ignore_case=True) for a in _as_list(statement["NotAction"])):
        return False
    if "Resource" in statement:
        if not any(_wildcard(r, call.resource) for r in _as_list(statement["Resource"])):
            return False
    elif "NotResource" in statement and any(_wildcard(r, call.resource) for r in _as_list(statement["NotResource"])):
        return False
    return conditions_hold(statement.get("Condition", {}), call.context)


def verdict(policy: dict | None, call: Call, *, with_principal: bool = False) -> str:
    """"Deny", "Allow" or "None" (no statement applies) for one policy document."""
    if not policy:
        return "None"
    found = "None"
    for statement in _as_list(policy["Statement"]):
        if statement_matches(statement, call, with_principal=with_principal):
            if statement["Effect"] == "Deny":
                return "Deny"
            found = "Allow"
    return found


def account_root(principal: str) -> str | None:
    match = re.match(r"arn:(aws[a-z-]*):(?:iam|sts)::(\d{12}):", principal)
    return f"arn:{match.group(1)}:iam::{match.group(2)}:root" if match else None


def is_allowed(call: Call, identity: Iterable[dict], resource_policy: dict | None = None) -> bool:
    """Same-account evaluation. For KMS actions `resource_policy` is the key policy and must allow."""
    identity = list(identity)
    verdicts = [verdict(p, call) for p in identity]
    resource = verdict(resource_policy, call, with_principal=True)
    if "Deny" in verdicts or resource == "Deny":
        return False
    if call.action.lower().startswith("kms:"):
        if resource_policy is None:
            raise ValueError("a KMS call needs the key policy")
        if resource == "Allow":
            return True
        root = account_root(call.principal)
        delegated = root is not None and verdict(resource_policy, Call(root, call.action, call.resource, call.context),
                                                 with_principal=True) == "Allow"
        return delegated and "Allow" in verdicts
    return "Allow" in verdicts or resource == "Allow"
