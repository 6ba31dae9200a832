"""IAM documents: least privilege, scoped to what the definition uses, and accepted by IAM/KMS/S3."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest
import yaml
from moto import mock_aws

from pipelines.iam import bucket_policy, execution_role_policy, iam_documents, key_policy
from privml.cli import main

from .conftest import ACCOUNT, REGION, Built, key, raw_config

# Actions with no resource-level permissions in IAM: "*" is the only possible resource.
RESOURCELESS = {
    "ecr:GetAuthorizationToken",
    "cloudwatch:PutMetricData",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeVpcs",
    "ec2:DescribeDhcpOptions",
    "ec2:DescribeSubnets",
    "ec2:DescribeSecurityGroups",
}


def _as_list(value: object) -> list:
    return value if isinstance(value, list) else [value]


def test_execution_role_policy_is_scoped(built: Built) -> None:
    policy = execution_role_policy(built.config, built.definition)
    for statement in policy["Statement"]:
        actions = _as_list(statement["Action"])
        assert all("*" not in a for a in actions), statement["Sid"]
        if "*" in _as_list(statement["Resource"]):
            assert set(actions) <= RESOURCELESS, statement["Sid"]
    s3 = next(s for s in policy["Statement"] if s["Sid"] == "ReadWriteOwnPrefixes")
    assert s3["Resource"] == ["arn:aws:s3:::privml-test-bucket/privml/*"]
    kms = [r for s in policy["Statement"] if s["Sid"].startswith(("UseObject", "GrantVolume")) for r in s["Resource"]]
    assert sorted(kms) == sorted(key(p) for p in ("data", "model", "capture", "volume", "endpoint"))
    passrole = next(s for s in policy["Statement"] if s["Sid"] == "PassOnlyThisRoleToSageMaker")
    assert passrole["Resource"] == built.config.role_arn
    ecr = next(s for s in policy["Statement"] if s["Sid"] == "PullJobImages")
    assert all(
        r.startswith(f"arn:aws:ecr:{REGION}:") and r.endswith("/sagemaker-scikit-learn") for r in ecr["Resource"]
    )


def test_policy_follows_the_definition(built: Built) -> None:
    definition = json.loads(json.dumps(built.definition))
    definition["Parameters"][0]["DefaultValue"] = "s3://privml-test-bucket/raw-zone/data/"
    policy = execution_role_policy(built.config, definition)
    s3 = next(s for s in policy["Statement"] if s["Sid"] == "ReadWriteOwnPrefixes")
    assert "arn:aws:s3:::privml-test-bucket/raw-zone/*" in s3["Resource"]


def test_bucket_policy_tls_and_sse_kms_with_the_pipeline_keys(built: Built) -> None:
    policy = bucket_policy(built.config)
    by_sid = {s["Sid"]: s for s in policy["Statement"]}
    assert all(s["Effect"] == "Deny" for s in policy["Statement"])
    conditions = [s["Condition"] for s in policy["Statement"]]
    assert {"Bool": {"aws:SecureTransport": "false"}} in conditions
    assert {"NumericLessThan": {"s3:TlsVersion": "1.2"}} in conditions
    key_condition = next(
        c["StringNotEquals"]
        for c in conditions
        if "s3:x-amz-server-side-encryption-aws-kms-key-id" in c.get("StringNotEquals", {})
    )
    assert key_condition["s3:x-amz-server-side-encryption-aws-kms-key-id"] == sorted(
        key(p) for p in ("data", "model", "capture")
    )
    assert by_sid  # named statements


def test_documents_are_accepted_by_iam_kms_and_s3(built: Built) -> None:
    documents = iam_documents(built.config, built.definition)
    with mock_aws():
        iam = boto3.client("iam", region_name=REGION)
        iam.create_policy(PolicyName="privml-exec", PolicyDocument=json.dumps(documents["execution_role_policy"]))
        kms = boto3.client("kms", region_name=REGION)
        for purpose, policy in documents["key_policies"].items():
            kms.create_key(Policy=json.dumps(policy), Description=purpose)
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket="privml-test-bucket")
        s3.put_bucket_policy(Bucket="privml-test-bucket", Policy=json.dumps(documents["bucket_policy"]))
        stored = json.loads(s3.get_bucket_policy(Bucket="privml-test-bucket")["Policy"])
        assert stored == documents["bucket_policy"]


def test_key_policies_grant_only_the_execution_role(built: Built) -> None:
    for purpose in ("data", "volume", "model", "endpoint", "capture"):
        statements = key_policy(built.config, purpose)["Statement"]
        principals = {s["Principal"]["AWS"] for s in statements}
        assert principals == {f"arn:aws:iam::{ACCOUNT}:root", built.config.role_arn}
        use = next(s for s in statements if s["Principal"]["AWS"] == built.config.role_arn)
        assert "kms:ViaService" in json.dumps(use["Condition"])


def test_cli_iam_policy(built: Built, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["iam-policy"]) == 2
    assert "--config" in capsys.readouterr().err
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(raw_config()))
    assert main(["iam-policy", "--config", str(config)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"execution_role_policy", "key_policies", "bucket_policy"}
