"""The generated policies against two IAM action databases: parliament's linter and policy_sentry's offline
database. No action that does not exist, no resource of the wrong type, no condition key the action lacks."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from .conftest import Built

# Findings that say a policy is wrong, not that it could be tighter.
ERRORS = {"UNKNOWN_ACTION", "UNKNOWN_PREFIX", "RESOURCE_MISMATCH", "UNKNOWN_CONDITION_FOR_ACTION",
          "MALFORMED", "MALFORMED_JSON", "INVALID_ARN", "UNKNOWN_OPERATOR", "MISMATCHED_TYPE",
          "MISMATCHED_TYPE_BUT_USABLE", "UNKNOWN_FEDERATION_SOURCE", "BAD_PATTERN_FOR_MFA"}


def _documents(built: Built) -> dict[str, Any]:
    from pipelines.iam import iam_documents

    return iam_documents(built.config, built.definition,
                         uploads={uri: a.kms_key_id for uri, a in built.artifacts.objects.items()})


def _identity_policies(documents: dict) -> dict[str, dict]:
    out = {f"role {label}": role["policy"] for label, role in documents["roles"].items()}
    out["operator"] = documents["operator"]["policy"]
    return out


def _as_list(value: Any) -> list:
    return value if isinstance(value, list) else [value]


def test_parliament_finds_no_error(built: Built) -> None:
    from parliament import analyze_policy_string

    for name, policy in _identity_policies(_documents(built)).items():
        findings = analyze_policy_string(json.dumps(policy, indent=1)).findings
        errors = [f"{f.issue}: {f.detail}" for f in findings if f.issue in ERRORS]
        assert errors == [], name


def test_parliament_catches_what_it_is_relied_on_for() -> None:
    """The linter is not silent by construction: the mistakes it must catch, it catches."""
    from parliament import analyze_policy_string

    def issues(statement: dict) -> set[str]:
        policy = {"Version": "2012-10-17", "Statement": [statement]}
        return {f.issue for f in analyze_policy_string(json.dumps(policy)).findings}

    assert "UNKNOWN_ACTION" in issues({"Effect": "Allow", "Action": "s3:GetObjects", "Resource": "arn:aws:s3:::b/*"})
    assert "RESOURCE_MISMATCH" in issues({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b"})
    assert "UNKNOWN_CONDITION_FOR_ACTION" in issues({
        "Effect": "Allow", "Action": "kms:Decrypt", "Resource": "arn:aws:kms:us-east-1:123456789012:key/k",
        "Condition": {"StringEquals": {"kms:ViaServices": "s3.us-east-1.amazonaws.com"}}})


def _arn_regex(arn_format: str) -> re.Pattern[str]:
    # "arn:${Partition}:s3:::${BucketName}/${ObjectName}": each ${...} stands for at least one character.
    parts = re.split(r"(\$\{[^}]+\})", arn_format)
    return re.compile("".join(".+" if p.startswith("${") else re.escape(p) for p in parts))


@pytest.mark.parametrize("kind", ["identity"])
def test_policy_sentry_database_knows_every_action_resource_and_condition(built: Built, kind: str) -> None:
    from policy_sentry.querying.actions import get_action_data

    cache: dict[str, list[dict]] = {}
    problems = []
    for name, policy in _identity_policies(_documents(built)).items():
        for statement in policy["Statement"]:
            for action in _as_list(statement["Action"]):
                service, verb = action.split(":")
                if action not in cache:
                    cache[action] = get_action_data(service, verb).get(service, [])
                rows = cache[action]
                if not rows:
                    problems.append(f"{name} {statement['Sid']}: {action} is not in policy_sentry's database")
                    continue
                formats = [r["resource_arn_format"] for r in rows if r["resource_arn_format"] != "*"]
                for resource in _as_list(statement["Resource"]):
                    if resource == "*":
                        continue
                    probe = resource.replace("*", "x")
                    if formats and not any(_arn_regex(f).fullmatch(probe) for f in formats):
                        problems.append(f"{name} {statement['Sid']}: {resource} fits no resource type of {action}")
                known = {k.lower() for r in rows for k in r.get("condition_keys", [])}
                for block in statement.get("Condition", {}).values():
                    for condition_key in block:
                        if not condition_key.lower().startswith("aws:") and condition_key.lower() not in known:
                            problems.append(f"{name} {statement['Sid']}: {action} has no condition key "
                                            f"{condition_key}")
    assert problems == [], "\n".join(problems)
    assert len(cache) > 40
