"""`run_on_aws` against moto's ThreadedMotoServer on 127.0.0.1 (in a child process: the in-process
mock the definition build uses resets moto's in-process state, so the server keeps its own)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from pipelines.aws import run_on_aws
from privml.errors import CheckFailed, PrivmlError
from tests.moto_server import moto_server

from .conftest import REGION, Built, make_config


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    with moto_server() as url:
        yield url


@pytest.fixture
def aws(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    session = boto3.Session(region_name=REGION)
    clients = {
        name: session.client(name, endpoint_url=moto_endpoint, region_name=REGION) for name in ("s3", "sagemaker")
    }
    buckets = {b["Name"] for b in clients["s3"].list_buckets().get("Buckets", [])}
    if "privml-test-bucket" not in buckets:
        clients["s3"].create_bucket(Bucket="privml-test-bucket")
    return {"session": session, "endpoint": moto_endpoint, **clients}


def test_run_upserts_pipeline_uploads_code_and_starts_execution(
    built: Built, aws: dict[str, Any], sdk_config_file: Path
) -> None:
    config = make_config(images={"profile": "privml"}, pipeline_name="privml-aws-test")
    record = run_on_aws(config, boto_session=aws["session"], endpoint_url=aws["endpoint"])
    assert record["waivers"] == [] and record["updated"] is False

    described = aws["sagemaker"].describe_pipeline(PipelineName="privml-aws-test")
    definition = json.loads(described["PipelineDefinition"])
    assert [s["Name"] for s in definition["Steps"]] == ["Anonymize", "Train", "Evaluate", "Gates"]
    assert described["RoleArn"] == config.role_arn
    executions = aws["sagemaker"].list_pipeline_executions(PipelineName="privml-aws-test")
    assert record["execution_arn"] in [e["PipelineExecutionArn"] for e in executions["PipelineExecutionSummaries"]]

    # Every code object the definition references is in the bucket, written with SSE-KMS.
    code = next(i for i in definition["Steps"][0]["Arguments"]["ProcessingInputs"] if i["InputName"] == "code")
    prefix = code["S3Input"]["S3Uri"].removeprefix("s3://privml-test-bucket/")
    listed = aws["s3"].list_objects_v2(Bucket="privml-test-bucket", Prefix=prefix)["Contents"]
    assert {o["Key"].removeprefix(prefix) for o in listed} >= {"anonymize.py"}
    head = aws["s3"].head_object(Bucket="privml-test-bucket", Key=listed[0]["Key"])
    assert head["ServerSideEncryption"] == "aws:kms" and head["SSEKMSKeyId"] == config.kms.data

    again = run_on_aws(config, boto_session=aws["session"], endpoint_url=aws["endpoint"])
    assert again["updated"] is True and again["pipeline_arn"] == record["pipeline_arn"]


def test_run_refuses_on_finding_unless_waived_and_records_the_waiver(
    aws: dict[str, Any], sdk_config_file: Path
) -> None:
    config = make_config(images={"profile": "privml"}, pipeline_name="privml-no-vpc", network={})
    with pytest.raises(CheckFailed, match="PRIVML-JOB-004"):
        run_on_aws(config, boto_session=aws["session"], endpoint_url=aws["endpoint"])
    names = [p["PipelineName"] for p in aws["sagemaker"].list_pipelines()["PipelineSummaries"]]
    assert "privml-no-vpc" not in names

    record = run_on_aws(config, waivers=["PRIVML-JOB-004"], boto_session=aws["session"], endpoint_url=aws["endpoint"])
    assert record["waivers"] == ["PRIVML-JOB-004"]
    assert {f["rule_id"] for f in record["waived_findings"]} == {"PRIVML-JOB-004"}
    execution = aws["sagemaker"].describe_pipeline_execution(PipelineExecutionArn=record["execution_arn"])
    assert "PRIVML-JOB-004" in execution["PipelineExecutionDescription"]


def test_run_needs_a_wheelhouse_or_the_privml_image(tmp_path: Path) -> None:
    with pytest.raises(PrivmlError, match=r"^code\.wheelhouse: .*privml wheelhouse --profile sklearn-1\.4-2-py312"):
        run_on_aws(make_config())
    with pytest.raises(PrivmlError, match="local"):
        from pipelines.config import PipelineConfig

        run_on_aws(PipelineConfig.local_defaults())


KEYED_POLICY = b"""version: 1
keys: {tokens: alias/privml-tokens}
columns:
  email: {role: identifier, action: tokenize, key: tokens}
  income: {role: feature, action: keep}
  label: {role: label}
"""


def test_a_keyed_policy_without_the_key_preparation_path_is_refused_before_any_upload(
    aws: dict[str, Any], sdk_config_file: Path
) -> None:
    config = make_config(images={"profile": "privml"}, pipeline_name="privml-keyed-no-path")
    bucket, key = config.default_policy_uri.removeprefix("s3://").split("/", 1)
    aws["s3"].put_object(Bucket=bucket, Key=key, Body=KEYED_POLICY)
    before = {o["Key"] for o in aws["s3"].list_objects_v2(Bucket=bucket).get("Contents", [])}
    with pytest.raises(PrivmlError, match=r"kms\.hmac") as caught:
        run_on_aws(config, boto_session=aws["session"], endpoint_url=aws["endpoint"])
    assert caught.value.exit_code == 2
    after = {o["Key"] for o in aws["s3"].list_objects_v2(Bucket=bucket).get("Contents", [])}
    assert after == before
    pipelines = aws["sagemaker"].list_pipelines()["PipelineSummaries"]
    assert "privml-keyed-no-path" not in [p["PipelineName"] for p in pipelines]
    aws["s3"].delete_object(Bucket=bucket, Key=key)


DP_POLICY_WITHOUT_DOMAIN = b"""version: 1
columns:
  email: {role: identifier, action: drop}
  income: {role: feature, action: keep}
  region: {role: feature, action: keep, categories: [north, south]}
  label: {role: label}
"""


def test_a_dp_run_whose_policy_leaves_bounds_to_the_data_is_refused_before_any_upload(
    aws: dict[str, Any], sdk_config_file: Path
) -> None:
    config = make_config(images={"profile": "privml"}, pipeline_name="privml-dp-no-bounds")
    bucket, key = config.default_policy_uri.removeprefix("s3://").split("/", 1)
    aws["s3"].put_object(Bucket=bucket, Key=key, Body=DP_POLICY_WITHOUT_DOMAIN)
    before = {o["Key"] for o in aws["s3"].list_objects_v2(Bucket=bucket).get("Contents", [])}
    with pytest.raises(PrivmlError, match=r"differentially private model .*: missing for income$") as caught:
        run_on_aws(config, boto_session=aws["session"], endpoint_url=aws["endpoint"],
                   parameters={"ModelKind": "dp_nb", "DpEpsilon": "1"})
    assert caught.value.exit_code == 2
    assert {o["Key"] for o in aws["s3"].list_objects_v2(Bucket=bucket).get("Contents", [])} == before
    pipelines = aws["sagemaker"].list_pipelines()["PipelineSummaries"]
    assert "privml-dp-no-bounds" not in [p["PipelineName"] for p in pipelines]
    aws["s3"].delete_object(Bucket=bucket, Key=key)
