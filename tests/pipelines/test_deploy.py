"""`privml deploy --aws` against moto: the three requests, their controls, and the audit gate."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest
import yaml
from moto import mock_aws

from pipelines.config import PipelineConfig
from pipelines.deploy import audit_plan, deploy_aws, plan_deployment
from privml.cli import main
from privml.errors import CheckFailed

ACCOUNT, REGION = "123456789012", "us-east-1"  # moto's fake account; a region inside tests only
IMAGE = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/sklearn-inference:1.4-2-py312"  # a mirror of the stock image
MODEL_DATA = "s3://privml-test-bucket/privml/runs/r1/model/model.tar.gz"


def raw_config(**overrides) -> dict:
    raw = {
        "region": REGION,
        "role_arn": f"arn:aws:iam::{ACCOUNT}:role/privml-execution",
        "bucket": "privml-test-bucket",
        "kms": {p: f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{p}-0000-1111-2222-333344445555"
                for p in ("data", "volume", "model", "endpoint", "capture")},
        "network": {"subnets": ["subnet-0123456789abcdef0"], "security_group_ids": ["sg-0123456789abcdef0"]},
        "images": {"inference": {"uri": IMAGE, "profile": "sklearn-1.4-2-py312"}},
    }
    raw.update(overrides)
    return raw


def config(**overrides) -> PipelineConfig:
    return PipelineConfig.from_mapping(raw_config(**overrides), sdk_config={})


@mock_aws
def test_deploy_creates_model_config_and_endpoint_with_the_controls() -> None:
    sm = boto3.client("sagemaker", region_name=REGION)
    sent: dict[str, dict] = {}
    sm.meta.events.register("provide-client-params.sagemaker.*",
                            lambda params, model, **kw: sent.setdefault(model.name, dict(params)))
    result = deploy_aws(config(), MODEL_DATA, endpoint_name="privml-ep", client=sm)
    assert result["action"] == "created" and result["endpoint_arn"]
    assert sent["CreateModel"]["EnableNetworkIsolation"] is True  # moto does not record this field
    model = sm.describe_model(ModelName=result["model_arn"].split("/")[-1])
    assert model["VpcConfig"]["Subnets"] == ["subnet-0123456789abcdef0"]
    assert model["PrimaryContainer"]["ModelDataUrl"] == MODEL_DATA
    assert model["PrimaryContainer"]["Environment"]["SAGEMAKER_PROGRAM"] == "privml_inference.py"
    endpoint = sm.describe_endpoint(EndpointName="privml-ep")
    ec = sm.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
    assert ec["KmsKeyId"].endswith("key/endpoint-0000-1111-2222-333344445555")
    capture = ec["DataCaptureConfig"]
    assert capture["KmsKeyId"].endswith("key/capture-0000-1111-2222-333344445555")
    assert capture["CaptureOptions"] == [{"CaptureMode": "Output"}]  # outputs only by default
    # a second deployment updates the same endpoint to a new config
    again = deploy_aws(config(), MODEL_DATA, endpoint_name="privml-ep", client=sm)
    assert again["action"] in ("created", "updated")


def test_capturing_inputs_is_a_warning_not_a_blocker() -> None:
    cfg = config(capture={"capture_inputs": True})
    plan = audit_plan(plan_deployment(cfg, MODEL_DATA, endpoint_name="ep"), cfg)
    assert [f.rule_id for f in plan.findings] == ["PRIVML-EP-003"]
    modes = [o["CaptureMode"] for o in plan.endpoint_config["DataCaptureConfig"]["CaptureOptions"]]
    assert modes == ["Input", "Output"]


@mock_aws
def test_blocking_findings_stop_the_deployment_before_any_request() -> None:
    cfg = config(network={"subnets": [], "security_group_ids": []})
    sm = boto3.client("sagemaker", region_name=REGION)
    with pytest.raises(CheckFailed, match="PRIVML-JOB-004"):
        deploy_aws(cfg, MODEL_DATA, endpoint_name="ep", client=sm)
    assert sm.list_models()["Models"] == []
    assert sm.list_endpoint_configs()["EndpointConfigs"] == []


def test_model_data_must_be_s3(tmp_path: Path) -> None:
    with pytest.raises(Exception, match="s3://"):
        plan_deployment(config(), str(tmp_path / "model.tar.gz"))


def test_cli_dry_run_prints_the_audited_requests(tmp_path: Path, capsys, monkeypatch) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(raw_config()))
    monkeypatch.setattr("pipelines.config.load_sdk_config", lambda: {})
    code = main(["deploy", "--aws", "--config", str(path), "--model-data", MODEL_DATA, "--dry-run"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["CreateModel"]["EnableNetworkIsolation"] is True
    assert out["CreateEndpointConfig"]["DataCaptureConfig"]["KmsKeyId"]
    assert out["warnings"] == []
