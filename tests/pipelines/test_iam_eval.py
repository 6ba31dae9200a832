"""The test evaluator (iam_eval.py) against known IAM cases and against moto's own IAM evaluator."""

from __future__ import annotations

import json

import pytest
from moto.iam.access_control import IAMPolicy, PermissionResult

from .conftest import Built
from .iam_calls import execution_calls
from .iam_eval import Call, conditions_hold, is_allowed, verdict

ROLE = "arn:aws:iam::123456789012:role/r"
ROOT = "arn:aws:iam::123456789012:root"


def _policy(*statements: dict) -> dict:
    return {"Version": "2012-10-17", "Statement": list(statements)}


@pytest.mark.parametrize(
    ("condition", "context", "expected"),
    [
        ({"StringEquals": {"k": "a"}}, {"k": "a"}, True),
        ({"StringEquals": {"k": ["a", "b"]}}, {"k": "b"}, True),  # values of one key: OR
        ({"StringEquals": {"k": "a", "j": "b"}}, {"k": "a"}, False),  # keys: AND; an absent key fails
        ({"StringEquals": {"K": "a"}}, {"k": "a"}, True),  # key names are case-insensitive
        ({"StringEquals": {"k": "A"}}, {"k": "a"}, False),  # values are not
        ({"StringNotEquals": {"k": "a"}}, {}, True),  # a negated operator holds when the key is absent
        ({"StringNotEquals": {"k": ["a", "b"]}}, {"k": "b"}, False),
        ({"StringLike": {"k": "p/*"}}, {"k": "p/"}, True),
        ({"StringLike": {"k": "p/*"}}, {"k": "q/x"}, False),
        ({"StringEqualsIfExists": {"k": "a"}}, {}, True),
        ({"Bool": {"k": "true"}}, {"k": "true"}, True),
        ({"Bool": {"k": "true"}}, {}, False),
        ({"NumericLessThan": {"k": "1.2"}}, {"k": "1.1"}, True),
        ({"NumericLessThan": {"k": "1.2"}}, {"k": "1.3"}, False),
        ({"Null": {"k": "true"}}, {}, True),
        ({"ArnLike": {"k": "arn:aws:sagemaker:us-east-1:123456789012:*"}},
         {"k": "arn:aws:sagemaker:us-east-1:123456789012:processing-job/x"}, True),
        ({"ArnLike": {"k": "arn:aws:sagemaker:us-east-1:123456789012:*"}},
         {"k": "arn:aws:sagemaker:us-east-1:999999999999:processing-job/x"}, False),
        ({"ForAllValues:StringEquals": {"k": ["a", "b"]}}, {"k": ["a", "b"]}, True),
        ({"ForAllValues:StringEquals": {"k": ["a"]}}, {"k": ["a", "c"]}, False),
        ({"ForAnyValue:StringEquals": {"k": ["a"]}}, {"k": ["c", "a"]}, True),
    ],
)
def test_condition_operators(condition: dict, context: dict, expected: bool) -> None:
    assert conditions_hold(condition, context) is expected


def test_explicit_deny_wins_and_no_statement_is_an_implicit_deny() -> None:
    allow = {"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::b/*"}
    deny = {"Effect": "Deny", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::b/code/*"}
    call = Call(ROLE, "s3:PutObject", "arn:aws:s3:::b/code/x")
    assert verdict(_policy(allow, deny), call) == "Deny"
    assert not is_allowed(call, [_policy(allow, deny)])
    assert is_allowed(Call(ROLE, "s3:PutObject", "arn:aws:s3:::b/data/x"), [_policy(allow, deny)])
    assert not is_allowed(Call(ROLE, "s3:GetObject", "arn:aws:s3:::c/x"), [_policy(allow)])
    assert is_allowed(Call(ROLE, "S3:getobject", "arn:aws:s3:::b/x"), [_policy(allow)])  # actions: any case
    assert not is_allowed(Call(ROLE, "s3:GetObject", "arn:aws:s3:::B/x"), [_policy(allow)])  # resources: exact


def test_not_action_and_not_resource() -> None:
    policy = _policy({"Effect": "Allow", "NotAction": "iam:*", "NotResource": "arn:aws:s3:::secret/*"})
    assert is_allowed(Call(ROLE, "s3:GetObject", "arn:aws:s3:::b/x"), [policy])
    assert not is_allowed(Call(ROLE, "iam:PassRole", "arn:aws:s3:::b/x"), [policy])
    assert not is_allowed(Call(ROLE, "s3:GetObject", "arn:aws:s3:::secret/x"), [policy])


def test_a_bucket_policy_deny_overrides_an_identity_allow_and_its_allow_suffices() -> None:
    identity = _policy({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"})
    bucket = _policy({"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": "*",
                      "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
                     {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:role/reader"},
                      "Action": "s3:GetObject", "Resource": "*"})
    assert not is_allowed(Call(ROLE, "s3:GetObject", "arn:aws:s3:::b/x", {"aws:SecureTransport": "false"}), [identity],
                          bucket)
    assert is_allowed(Call(ROLE, "s3:GetObject", "arn:aws:s3:::b/x", {"aws:SecureTransport": "true"}), [identity],
                      bucket)
    reader = "arn:aws:iam::123456789012:role/reader"
    assert is_allowed(Call(reader, "s3:GetObject", "arn:aws:s3:::b/x", {"aws:SecureTransport": "true"}), [], bucket)


def test_kms_needs_the_key_policy_directly_or_by_delegation_to_the_account() -> None:
    identity = _policy({"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*"})
    direct = _policy({"Effect": "Allow", "Principal": {"AWS": ROLE}, "Action": "kms:Decrypt", "Resource": "*"})
    delegated = _policy({"Effect": "Allow", "Principal": {"AWS": ROOT}, "Action": "kms:*", "Resource": "*"})
    admin_only = _policy({"Effect": "Allow", "Principal": {"AWS": ROOT}, "Action": "kms:PutKeyPolicy", "Resource": "*"})
    call = Call(ROLE, "kms:Decrypt", "arn:aws:kms:us-east-1:123456789012:key/k")
    assert is_allowed(call, [], direct)  # the key policy alone suffices
    assert is_allowed(call, [identity], delegated)
    assert not is_allowed(call, [], delegated)  # delegation still needs the IAM policy
    assert not is_allowed(call, [identity], admin_only)  # an IAM policy alone is not enough
    with pytest.raises(ValueError):
        is_allowed(call, [identity])


def _moto(policy: dict, call: Call) -> bool:
    result = IAMPolicy(json.dumps(policy)).is_action_permitted(call.action, call.resource, None,
                                                               {k: str(v) for k, v in call.context.items()})
    return result == PermissionResult.PERMITTED


def _unconditioned(policy: dict) -> dict:
    return {**policy, "Statement": [{k: v for k, v in s.items() if k != "Condition"} for s in policy["Statement"]]}


def test_agrees_with_moto_on_the_generated_policy_and_the_definitions_calls(built: Built) -> None:
    """moto's evaluator matches Action and Resource (it skips most condition operators), so it is the oracle
    for those: on the execution role's policy without its conditions, for every call an execution makes
    and for calls on resources next to them, both evaluators agree."""
    from pipelines.iam import iam_documents

    uploads = {uri: a.kms_key_id for uri, a in built.artifacts.objects.items()}
    documents = iam_documents(built.config, built.definition, uploads=uploads)
    policy = _unconditioned(documents["roles"]["execution"]["policy"])
    calls = execution_calls(built.config, built.definition, uploads)
    moved = [c.resource.replace("/runs/", "/code/").replace("anonymize", "other") for c in calls]
    near = [Call(c.principal, c.action, resource, c.context) for c, resource in zip(calls, moved, strict=True)]
    near += [Call(c.principal, c.action.replace("Get", "Delete"), c.resource, c.context) for c in calls]
    checked = 0
    for call in calls + near:
        if call.action == "kms:GenerateMac":
            continue
        ours = verdict(policy, call) == "Allow"
        assert ours == _moto(policy, call), call
        checked += 1
    assert checked > 150
    assert {verdict(policy, c) == "Allow" for c in near} == {True, False}  # the neighbours test both ways
