"""The key-preparation path in the definition: PrepareKeys (the one step that may call KMS), the
secrets input of the isolated Anonymize job, the model's separate data source, and every step naming
its key provider. Plus PrepareKeys itself against moto's KMS (GenerateMac on an HMAC_256 key)."""

from __future__ import annotations

import argparse
import base64
import json
from pathlib import Path
from typing import Any

import pytest

from pipelines import key_preparation as keyprep
from pipelines.audit import audit
from pipelines.config import PipelineConfig
from pipelines.definition import build_definition_with_artifacts
from privml.errors import PrivmlError

from .conftest import ACCOUNT, REGION, Built, _NetworkGuard, key, make_config, raw_config, scripts_root, steps_by_name
from .test_definition import _requests, _validate

KEY_ROLE = f"arn:aws:iam::{ACCOUNT}:role/privml-key-preparation"


def keyed_raw(**overrides: Any) -> dict[str, Any]:
    raw = raw_config(kms={**raw_config()["kms"], "hmac": key("hmac"), "secrets": key("secrets")},
                     key_preparation_role_arn=KEY_ROLE)
    raw.update(overrides)
    return raw


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory, sdk_config_file: Path) -> Built:
    config = PipelineConfig.from_mapping(keyed_raw(), sdk_config={})
    root = scripts_root(tmp_path_factory.mktemp("scripts"))
    with _NetworkGuard() as guard:
        definition, artifacts = build_definition_with_artifacts(config, scripts_root=root)
    return Built(config, definition, artifacts, root, guard.attempts)


def test_prepare_keys_is_the_one_step_off_isolation_in_the_vpc_under_its_own_role(keyed: Built) -> None:
    steps = steps_by_name(keyed.definition)
    cfg = keyed.config
    assert [s["Name"] for s in keyed.definition["Steps"]][:2] == ["PrepareKeys", "Anonymize"]
    args = steps["PrepareKeys"]["Arguments"]
    net = args["NetworkConfig"]
    assert net["EnableNetworkIsolation"] is False
    assert net["VpcConfig"] == {"Subnets": list(cfg.network.subnets),
                                "SecurityGroupIds": list(cfg.network.security_group_ids)}
    assert net["EnableInterContainerTrafficEncryption"] is True
    assert args["RoleArn"] == KEY_ROLE != cfg.role_arn
    assert args["ProcessingOutputConfig"]["KmsKeyId"] == cfg.kms.secrets
    assert args["ProcessingResources"]["ClusterConfig"]["VolumeKmsKeyId"] == cfg.kms.volume
    # it reads the policy and its code, never data
    assert {i["InputName"] for i in args["ProcessingInputs"]} == {"policy", "code"}
    assert {o["OutputName"] for o in args["ProcessingOutputConfig"]["Outputs"]} == {"secrets", "serving"}
    assert args["Environment"]["PRIVML_KEY_PROVIDER"] == "aws"
    assert args["AppSpecification"]["ContainerArguments"][-2:] == ["--hmac-key", cfg.kms.hmac]
    for name in ("Anonymize", "Evaluate"):
        assert steps[name]["Arguments"]["NetworkConfig"]["EnableNetworkIsolation"] is True
        assert steps[name]["Arguments"]["RoleArn"] == cfg.role_arn


def test_isolated_anonymize_gets_the_secrets_as_an_input_and_reads_them_with_the_file_provider(keyed: Built) -> None:
    args = steps_by_name(keyed.definition)["Anonymize"]["Arguments"]
    inputs = {i["InputName"]: i["S3Input"] for i in args["ProcessingInputs"]}
    assert inputs["keys"]["S3Uri"] == {
        "Get": "Steps.PrepareKeys.ProcessingOutputConfig.Outputs['secrets'].S3Output.S3Uri"}
    assert inputs["keys"]["LocalPath"] == "/opt/ml/processing/input/keys"
    assert args["Environment"] == {"PRIVML_KEY_PROVIDER": "file",
                                   "PRIVML_KEY_FILE": "/opt/ml/processing/input/keys/derived-secrets.json"}


def test_every_step_names_its_key_provider(keyed: Built, built: Built) -> None:
    for definition, expected in ((keyed.definition, {"PrepareKeys": "aws", "Anonymize": "file", "Train": "none",
                                                     "Evaluate": "none", "CreateModel": "file"}),
                                 (built.definition, {"Anonymize": "none", "Train": "none", "Evaluate": "none",
                                                     "CreateModel": "none"})):
        found = {}
        for name, step in steps_by_name(definition).items():
            args = step["Arguments"] if step["Type"] in ("Processing", "Training", "Model") else None
            if args is None:
                continue
            env = args["PrimaryContainer"]["Environment"] if step["Type"] == "Model" else args["Environment"]
            found[name] = env["PRIVML_KEY_PROVIDER"]
        assert found == expected


def test_the_model_gets_feature_secrets_as_a_separate_data_source(keyed: Built, built: Built) -> None:
    container = steps_by_name(keyed.definition)["CreateModel"]["Arguments"]["PrimaryContainer"]
    (source,) = container["AdditionalModelDataSources"]
    assert source["ChannelName"] == "privml-keys"
    assert source["S3DataSource"]["S3DataType"] == "S3Object"
    assert source["S3DataSource"]["CompressionType"] == "None"
    assert source["S3DataSource"]["S3Uri"] == {"Std:Join": {"On": "/", "Values": [
        {"Get": "Steps.PrepareKeys.ProcessingOutputConfig.Outputs['serving'].S3Output.S3Uri"},
        "derived-secrets.json"]}}
    assert container["Environment"]["PRIVML_KEY_FILE"] == (
        "/opt/ml/additional-model-data-sources/privml-keys/derived-secrets.json")
    assert container["ModelDataUrl"] == {"Get": "Steps.Train.ModelArtifacts.S3ModelArtifacts"}
    plain = steps_by_name(built.definition)["CreateModel"]["Arguments"]["PrimaryContainer"]
    assert "AdditionalModelDataSources" not in plain and plain["Environment"]["PRIVML_KEY_PROVIDER"] == "none"


@pytest.mark.parametrize("step", ["PrepareKeys", "Anonymize", "Train", "CreateModel"])
def test_keyed_requests_validate_against_botocore(keyed: Built, step: str) -> None:
    requests = {name: (op, req) for name, op, req in _requests(keyed.definition)}
    operation, request = requests[step]
    assert _validate(operation, request) == ""


def test_audit_accepts_the_key_preparation_step_and_nothing_like_it_with_data(keyed: Built) -> None:
    result = audit(keyed.definition, config=keyed.config)
    assert [f.rule_id for f in result.blocking] == []
    tampered = json.loads(json.dumps(keyed.definition))
    prepare = next(s for s in tampered["Steps"] if s["Name"] == "PrepareKeys")
    data_input = json.loads(json.dumps(prepare["Arguments"]["ProcessingInputs"][0]))
    data_input["InputName"] = "data"
    prepare["Arguments"]["ProcessingInputs"].append(data_input)
    assert "PRIVML-JOB-003" in {f.rule_id for f in audit(tampered, config=keyed.config).blocking}


def test_no_key_preparation_step_without_its_config(built: Built) -> None:
    steps = steps_by_name(built.definition)
    assert "PrepareKeys" not in steps
    assert {i["InputName"] for i in steps["Anonymize"]["Arguments"]["ProcessingInputs"]} == {"data", "policy", "code"}


@pytest.mark.parametrize("missing", ["kms.hmac", "kms.secrets", "key_preparation_role_arn"])
def test_the_key_preparation_fields_come_together(missing: str) -> None:
    raw = keyed_raw()
    if missing.startswith("kms."):
        del raw["kms"][missing.removeprefix("kms.")]
    else:
        del raw[missing]
    with pytest.raises(PrivmlError, match=missing.replace(".", r"\.")):
        PipelineConfig.from_mapping(raw, sdk_config={})
    with pytest.raises(PrivmlError, match="key_preparation_role_arn: must be its own role"):
        PipelineConfig.from_mapping(keyed_raw(key_preparation_role_arn=raw_config()["role_arn"]), sdk_config={})


def test_deploy_attaches_the_keys_object_as_a_model_data_source(keyed: Built) -> None:
    from pipelines.deploy import model_request

    url = "s3://privml-test-bucket/privml/runs/e1/preparekeys/serving/derived-secrets.json"
    request = model_request(keyed.config, "m", "s3://privml-test-bucket/privml/models/m/model.tar.gz",
                            keys_data_url=url)
    container = request["PrimaryContainer"]
    assert container["AdditionalModelDataSources"] == keyprep.serving_data_sources(url)
    assert container["Environment"]["PRIVML_KEY_PROVIDER"] == "file"
    assert _validate("CreateModel", request) == ""
    bare = model_request(keyed.config, "m", "s3://privml-test-bucket/privml/models/m/model.tar.gz")
    assert "AdditionalModelDataSources" not in bare["PrimaryContainer"]
    with pytest.raises(PrivmlError, match="--keys-data"):
        model_request(keyed.config, "m", "s3://privml-test-bucket/x", keys_data_url="s3://other/x")


# --- PrepareKeys against moto's KMS ---------------------------------------------------------------------

POLICY = """\
version: 1
keys:
  tokens: {alias}
columns:
  email: {{role: identifier, action: tokenize, key: tokens}}
  name: {{role: identifier, action: pseudonymize, key: tokens}}
  city: {{role: feature, action: tokenize, key: tokens}}
  income: {{role: feature, action: keep}}
  label: {{role: label}}
"""


def test_prepare_keys_against_moto_kms_writes_the_secrets_under_the_secrets_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, keyed: Built
) -> None:
    import boto3
    from moto import mock_aws

    from privml.crypto.aws_kms import AwsKms
    from privml.crypto.key_file import FileKeyProvider
    from processing import prepare_keys

    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    for var, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing")):
        monkeypatch.setenv(var, value)
    with mock_aws():
        kms = boto3.client("kms", region_name=REGION)
        hmac_key = kms.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]["Arn"]
        kms.create_alias(AliasName="alias/privml-tokens", TargetKeyId=hmac_key)
        secrets_key = kms.create_key()["KeyMetadata"]["Arn"]
        policy = tmp_path / "policy.yaml"
        policy.write_text(POLICY.format(alias="alias/privml-tokens"))
        monkeypatch.setenv("PRIVML_KEY_PROVIDER", "aws")
        out = tmp_path / "output"
        counts = prepare_keys.run(argparse.Namespace(policy=str(policy), output=str(out), hmac_key=hmac_key))
        assert counts == {"secrets": 2, "serving": 1}  # tokenize + pseudonymize; the endpoint only tokenize
        everything = FileKeyProvider.open(out / "secrets" / "derived-secrets.json")
        serving = FileKeyProvider.open(out / "serving" / "derived-secrets.json")
        assert everything.resolve("alias/privml-tokens") == hmac_key
        expected = AwsKms(kms).derive_secret(hmac_key, "privml/tokenize/v1")
        mac = kms.generate_mac(KeyId=hmac_key, MacAlgorithm="HMAC_SHA_256",
                               Message=b"privml derive_secret v1\x00privml/tokenize/v1")["Mac"]
        assert expected == mac  # the file holds GenerateMac's output itself
        assert everything.derive_secret(hmac_key, "privml/tokenize/v1") == expected
        assert everything.derive_secret(hmac_key, "privml/pseudonymize/v1")
        assert serving.purposes() == {hmac_key: ["privml/tokenize/v1"]}  # identifiers' secrets stay out

        # SageMaker uploads the outputs as the definition's ProcessingOutputConfig says: under kms.secrets.
        args = steps_by_name(keyed.definition)["PrepareKeys"]["Arguments"]["ProcessingOutputConfig"]
        assert args["KmsKeyId"] == keyed.config.kms.secrets
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket="privml-test-bucket")
        body = (out / "secrets" / "derived-secrets.json").read_bytes()
        s3.put_object(Bucket="privml-test-bucket", Key="privml/runs/e1/preparekeys/secrets/derived-secrets.json",
                      Body=body, ServerSideEncryption="aws:kms", SSEKMSKeyId=secrets_key)
        head = s3.head_object(Bucket="privml-test-bucket",
                              Key="privml/runs/e1/preparekeys/secrets/derived-secrets.json")
        assert head["ServerSideEncryption"] == "aws:kms" and head["SSEKMSKeyId"] == secrets_key
        # a key other than kms.hmac is refused, naming the policy field
        other = kms.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]["Arn"]
        with pytest.raises(PrivmlError, match=r"keys\.tokens"):
            prepare_keys.run(argparse.Namespace(policy=str(policy), output=str(tmp_path / "o2"), hmac_key=other))
        # and an encryption key cannot give a deterministic secret
        policy.write_text(POLICY.format(alias=secrets_key))
        with pytest.raises(PrivmlError, match="HMAC"):
            prepare_keys.run(argparse.Namespace(policy=str(policy), output=str(tmp_path / "o3"),
                                                hmac_key=secrets_key))
    assert base64.b64encode(expected).decode() not in json.dumps(keyed.definition)
    make_config()  # the unkeyed config still validates
