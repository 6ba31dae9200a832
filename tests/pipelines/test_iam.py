"""IAM documents evaluated against the calls each step, the pipeline role and the endpoint make.

The calls come from the definition (iam_calls.py resolves it as SageMaker would for one execution),
never from the generated policies; the evaluator is iam_eval.py (checked in test_iam_eval.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from moto import mock_aws

from pipelines import iam
from pipelines.deploy import plan_deployment
from privml.cli import main

from .conftest import ACCOUNT, REGION, Built, key, raw_config
from .iam_calls import EXECUTION_ID, TLS, endpoint_calls, execution_calls
from .iam_eval import Call, is_allowed

OPERATOR_ARN = f"arn:aws:iam::{ACCOUNT}:user/operator"


def _documents(built: Built) -> dict[str, Any]:
    uploads = {uri: a.kms_key_id for uri, a in built.artifacts.objects.items()}
    return iam.iam_documents(built.config, built.definition, uploads=uploads)


def _role_policy(documents: dict, label: str = "execution") -> dict:
    if "roles" in documents:
        return documents["roles"][label]["policy"]
    return documents["execution_role_policy"]  # the document's name before it had per-role documents


def _key_policy_for(documents: dict, config: Any, key_arn: str) -> dict:
    for purpose, policy in documents["key_policies"].items():
        if config.key_arn(purpose) == key_arn:
            return policy
    raise AssertionError(f"no key policy for {key_arn}")


def _allowed(documents: dict, config: Any, call: Call, identity: list[dict]) -> bool:
    if call.action.startswith("kms:"):
        return is_allowed(call, identity, _key_policy_for(documents, config, call.resource))
    if call.action.startswith("s3:"):
        return is_allowed(call, identity, documents["bucket_policy"])
    return is_allowed(call, identity)


def _identity_of(documents: dict, principal: str) -> list[dict]:
    roles = documents.get("roles")
    if roles is None:
        return [documents["execution_role_policy"]]
    return [r["policy"] for r in roles.values() if r["role_arn"] == principal]


def test_every_call_of_an_execution_and_its_endpoint_is_allowed(built: Built) -> None:
    documents = _documents(built)
    uploads = {uri: a.kms_key_id for uri, a in built.artifacts.objects.items()}
    plan = plan_deployment(built.config, f"{built.config.base_uri}/models/pipelines-{EXECUTION_ID}-train-x/output/"
                                         "model.tar.gz", stamp="20261201000000")
    calls = execution_calls(built.config, built.definition, uploads) + endpoint_calls(built.config, plan)
    assert len(calls) > 80 and {c.action for c in calls} >= {
        "s3:GetObject", "s3:PutObject", "s3:ListBucket", "kms:Decrypt", "kms:GenerateDataKey", "kms:CreateGrant",
        "iam:PassRole", "sagemaker:CreateProcessingJob", "sagemaker:CreateTrainingJob", "sagemaker:CreateModel"}
    refused = [c for c in calls if not _allowed(documents, built.config, c, _identity_of(documents, c.principal))]
    assert refused == []


def _refused_calls(built: Built) -> list[Call]:
    config = built.config
    role = config.role_arn
    bucket = f"arn:aws:s3:::{config.bucket}"
    code = sorted(uri for uri in built.artifacts.objects if "/code/" in uri)[0]
    via_s3 = {"kms:ViaService": f"s3.{REGION}.amazonaws.com"}
    sse = {"s3:x-amz-server-side-encryption": "aws:kms",
           "s3:x-amz-server-side-encryption-aws-kms-key-id": key("data")}
    run = f"{config.prefix}/runs/{EXECUTION_ID}"
    return [
        Call(role, "s3:PutObject", f"{bucket}/{code[len(f's3://{config.bucket}/'):]}", {**TLS, **sse},
             "a job overwrites the code a later job executes"),
        Call(role, "s3:PutObject", f"{bucket}/{config.prefix}/input/policy/policy.yaml", {**TLS, **sse},
             "a job rewrites the policy the next run reads"),
        Call(role, "s3:PutObject", f"{bucket}/{config.prefix}/privml-train/x/input/code/train.py", {**TLS, **sse},
             "a job rewrites the training code"),
        Call(role, "s3:DeleteObject", f"{bucket}/{run}/anonymize/train/part-00000.csv", TLS, "a job deletes data"),
        Call(role, "s3:GetObject", f"{bucket}/{config.prefix}/capture/privml/AllTraffic/x.jsonl", TLS,
             "a job reads captured requests"),
        Call(role, "s3:GetObject", f"{bucket}/{run}/anonymize/train/part-00000.csv",
             {"aws:SecureTransport": "false"}, "read without TLS"),
        Call(role, "s3:GetObject", f"{bucket}/{run}/anonymize/train/part-00000.csv",
             {"aws:SecureTransport": "true", "s3:TlsVersion": "1.1"}, "read over TLS 1.1"),
        Call(role, "s3:PutObject", f"{bucket}/{run}/anonymize/train/part-00000.csv", TLS, "write without SSE-KMS"),
        Call(role, "s3:PutObject", f"{bucket}/{run}/anonymize/train/part-00000.csv",
             {**TLS, **sse, "s3:x-amz-server-side-encryption-aws-kms-key-id": key("volume")},
             "write under a key that is not an object key"),
        Call(role, "kms:GenerateMac", key("data"), {}, "the job role derives a keyed secret"),
        Call(role, "kms:Decrypt", key("data"), {}, "decrypt outside S3"),
        Call(role, "kms:Decrypt", key("volume"), via_s3, "decrypt with the volume key"),
        Call(role, "sagemaker:CreateProcessingJob",
             f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:processing-job/pipelines-x-anonymize-y",
             {"sagemaker:NetworkIsolation": "false", "sagemaker:InterContainerTrafficEncryption": "true"},
             "a processing job without network isolation"),
        Call(role, "sagemaker:CreateProcessingJob",
             f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:processing-job/adhoc-job",
             {"sagemaker:NetworkIsolation": "true", "sagemaker:InterContainerTrafficEncryption": "true"},
             "a processing job outside the pipeline"),
        Call(role, "iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/admin",
             {"iam:PassedToService": "sagemaker.amazonaws.com"}, "the pipeline role passes an unrelated role"),
        Call(role, "sagemaker:CreateEndpoint", f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/privml", {},
             "the execution role deploys"),
    ]


def test_calls_that_must_be_refused_are_refused(built: Built) -> None:
    documents = _documents(built)
    allowed = [c for c in _refused_calls(built)
               if _allowed(documents, built.config, c, _identity_of(documents, c.principal))]
    assert allowed == []


def test_job_role_never_writes_what_it_or_a_later_job_reads_as_code_or_input(built: Built) -> None:
    """The split itself: every code object of the build and every input prefix is outside the writes."""
    documents = _documents(built)
    policy = _role_policy(documents)
    sse = {"s3:x-amz-server-side-encryption": "aws:kms",
           "s3:x-amz-server-side-encryption-aws-kms-key-id": key("data")}
    writable = [uri for uri in built.artifacts.objects
                if is_allowed(Call(built.config.role_arn, "s3:PutObject",
                                   f"arn:aws:s3:::{uri[len('s3://'):]}", {**TLS, **sse}), [policy])]
    assert writable == []
    assert len(built.artifacts.objects) >= 3


def test_trust_policies_admit_sagemaker_of_this_account_only(built: Built) -> None:
    documents = _documents(built)
    trust = documents["roles"]["execution"]["trust_policy"]
    own = {"aws:SourceAccount": ACCOUNT, "aws:SourceArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:processing-job/x"}
    assert is_allowed(Call("service:sagemaker.amazonaws.com", "sts:AssumeRole", built.config.role_arn, own), [],
                      trust)
    other = "999999999999"
    for context in ({"aws:SourceAccount": other, "aws:SourceArn": f"arn:aws:sagemaker:us-east-1:{other}:x"}, {}):
        assert not is_allowed(Call("service:sagemaker.amazonaws.com", "sts:AssumeRole", built.config.role_arn,
                                   context), [], trust)
    assert not is_allowed(Call("service:ec2.amazonaws.com", "sts:AssumeRole", built.config.role_arn, own), [], trust)
    operator_trust = documents["operator"]["trust_policy"]
    assert is_allowed(Call(OPERATOR_ARN, "sts:AssumeRole", "role", {"aws:MultiFactorAuthPresent": "true"}), [],
                      _rooted(operator_trust))
    assert not is_allowed(Call(OPERATOR_ARN, "sts:AssumeRole", "role", {}), [], _rooted(operator_trust))


def _rooted(trust: dict) -> dict:
    # A trust policy naming the account root admits that account's principals (whose own policy allows
    # sts:AssumeRole); the evaluator matches principals by ARN, so name the operator for this check.
    return json.loads(json.dumps(trust).replace(f"arn:aws:iam::{ACCOUNT}:root", OPERATOR_ARN))


def test_key_policies_give_uses_to_named_principals_and_administration_to_the_account(built: Built) -> None:
    documents = _documents(built)
    root = f"arn:aws:iam::{ACCOUNT}:root"
    uses = {"kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:GenerateMac", "kms:CreateGrant", "kms:ReEncrypt*"}
    for purpose, policy in documents["key_policies"].items():
        admin = policy["Statement"][0]
        assert admin["Principal"] == {"AWS": root} and not uses & set(admin["Action"]), purpose
        for statement in policy["Statement"][1:]:
            assert statement["Principal"]["AWS"] in (built.config.role_arn, root), purpose
            assert "Condition" in statement, (purpose, statement["Sid"])  # every use is scoped
    # With the account root given no use, an IAM policy alone cannot make a new reader of the data key.
    intruder = f"arn:aws:iam::{ACCOUNT}:role/someone-else"
    wide_open = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}]}
    call = Call(intruder, "kms:Decrypt", key("data"), {"kms:ViaService": f"s3.{REGION}.amazonaws.com"})
    assert not is_allowed(call, [wide_open], documents["key_policies"]["data"])


def test_documents_are_accepted_by_iam_kms_and_s3(built: Built) -> None:
    documents = _documents(built)
    with mock_aws():
        client = boto3.client("iam", region_name=REGION)
        for label, role in documents["roles"].items():
            client.create_role(RoleName=f"privml-{label}", AssumeRolePolicyDocument=json.dumps(role["trust_policy"]))
            client.put_role_policy(RoleName=f"privml-{label}", PolicyName="privml",
                                   PolicyDocument=json.dumps(role["policy"]))
        client.create_policy(PolicyName="privml-operator", PolicyDocument=json.dumps(documents["operator"]["policy"]))
        kms = boto3.client("kms", region_name=REGION)
        for purpose, policy in documents["key_policies"].items():
            kms.create_key(Policy=json.dumps(policy), Description=purpose)
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket="privml-test-bucket")
        s3.put_bucket_policy(Bucket="privml-test-bucket", Policy=json.dumps(documents["bucket_policy"]))
        assert json.loads(s3.get_bucket_policy(Bucket="privml-test-bucket")["Policy"]) == documents["bucket_policy"]


def test_bucket_policy_allows_exactly_the_keys_objects_are_written_under(built: Built) -> None:
    policy = _documents(built)["bucket_policy"]
    condition = next(s["Condition"]["StringNotEquals"] for s in policy["Statement"]
                     if "s3:x-amz-server-side-encryption-aws-kms-key-id" in s.get("Condition", {}).get(
                         "StringNotEquals", {}))
    assert sorted(condition["s3:x-amz-server-side-encryption-aws-kms-key-id"]) == sorted(
        key(p) for p in ("data", "model", "capture"))


def test_a_step_with_its_own_role_gets_its_own_documents(built: Built) -> None:
    """A key-preparation step (its own role, network, an HMAC key in its arguments) is read from the
    definition: it alone may call GenerateMac, and its output key is decrypted by the jobs reading it."""
    definition = json.loads(json.dumps(built.definition))
    anonymize = next(s for s in definition["Steps"] if s["Name"] == "Anonymize")
    prepare = json.loads(json.dumps(anonymize))
    prepare_role = f"arn:aws:iam::{ACCOUNT}:role/privml-prepare-keys"
    hmac_key = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/hmac-0000-1111-2222-333344445555"
    secrets_key = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/secrets-0000-1111-2222-333344445555"
    prepare["Name"] = "PrepareKeys"
    prepare["Arguments"]["RoleArn"] = prepare_role
    prepare["Arguments"]["NetworkConfig"]["EnableNetworkIsolation"] = False
    prepare["Arguments"]["AppSpecification"]["ContainerArguments"] = ["--hmac-key", hmac_key]
    prepare["Arguments"]["ProcessingInputs"] = [i for i in prepare["Arguments"]["ProcessingInputs"]
                                                if i["InputName"] in ("policy", "code")]
    prepare["Arguments"]["ProcessingOutputConfig"] = {
        "KmsKeyId": secrets_key,
        "Outputs": [{"OutputName": "secrets", "S3Output": {
            "S3Uri": {"Std:Join": {"On": "/", "Values": [built.config.base_uri, "runs",
                                                         {"Get": "Execution.PipelineExecutionId"}, "secrets"]}},
            "LocalPath": "/opt/ml/processing/output/secrets", "S3UploadMode": "EndOfJob"}}]}
    anonymize["Arguments"]["ProcessingInputs"].append({"InputName": "secrets", "S3Input": {
        "S3Uri": {"Get": "Steps.PrepareKeys.ProcessingOutputConfig.Outputs['secrets'].S3Output.S3Uri"},
        "LocalPath": "/opt/ml/processing/input/secrets", "S3DataType": "S3Prefix", "S3InputMode": "File",
        "S3DataDistributionType": "FullyReplicated"}})
    definition["Steps"].insert(0, prepare)
    documents = iam.iam_documents(built.config, definition,
                                  uploads={uri: a.kms_key_id for uri, a in built.artifacts.objects.items()})
    assert set(documents["roles"]) == {"execution", "prepare-keys"}
    prepare_policy = documents["roles"]["prepare-keys"]["policy"]
    execution_policy = documents["roles"]["execution"]["policy"]
    mac = Call(prepare_role, "kms:GenerateMac", hmac_key, {})
    assert is_allowed(mac, [prepare_policy], {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "kms:*", "Resource": "*"}]})
    assert not is_allowed(Call(built.config.role_arn, "kms:GenerateMac", hmac_key, {}), [execution_policy],
                          {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {
                              "AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "kms:*", "Resource": "*"}]})
    secrets_object = f"arn:aws:s3:::{built.config.bucket}/{built.config.prefix}/runs/{EXECUTION_ID}/secrets/s.json"
    via = {**TLS, "kms:ViaService": f"s3.{REGION}.amazonaws.com"}
    assert is_allowed(Call(built.config.role_arn, "s3:GetObject", secrets_object, TLS), [execution_policy])
    assert any(s["Sid"] == "DecryptInputsThroughS3" and secrets_key in s["Resource"]
               for s in execution_policy["Statement"])
    assert not is_allowed(Call(prepare_role, "s3:GetObject", secrets_object, TLS), [prepare_policy])
    assert is_allowed(Call(prepare_role, "kms:GenerateDataKey", secrets_key, via), [prepare_policy],
                      {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {
                          "AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "kms:*", "Resource": "*"}]})
    passed = next(s for s in execution_policy["Statement"] if s["Sid"] == "PassStepRolesToSageMaker")
    assert prepare_role in passed["Resource"]
    # The execution role's calls (including reading the new input) are all still allowed.
    uploads = {uri: a.kms_key_id for uri, a in built.artifacts.objects.items()}
    calls = [c for c in execution_calls(built.config, definition, uploads)
             if not c.action.startswith("kms:")]  # the test config has no key for the new purposes
    refused = [c for c in calls if not is_allowed(c, _identity_of(documents, c.principal),
                                                  documents["bucket_policy"] if c.action.startswith("s3:") else None)]
    assert refused == []


def test_cli_iam_policy_all_one_role_and_files(built: Built, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["iam-policy"]) == 2
    assert "--config" in capsys.readouterr().err
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(raw_config()))
    assert main(["iam-policy", "--config", str(config)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"roles", "operator", "key_policies", "bucket_policy"}
    assert set(out["roles"]) == {"execution"} and set(out["key_policies"]) == {"data", "volume", "model", "endpoint",
                                                                                 "capture"}
    assert main(["iam-policy", "--config", str(config), "--role", "operator"]) == 0
    assert set(json.loads(capsys.readouterr().out)) == {"roles", "operator"}
    assert main(["iam-policy", "--config", str(config), "--role", "nobody"]) == 2
    assert "its roles: execution, operator" in capsys.readouterr().err
    assert main(["iam-policy", "--config", str(config), "-o", str(tmp_path / "iam")]) == 0
    names = sorted(p.name for p in (tmp_path / "iam").iterdir())
    assert names == sorted(["execution-policy.json", "execution-trust-policy.json", "operator-policy.json",
                            "operator-trust-policy.json", "bucket-policy.json",
                            *(f"key-policy-{p}.json" for p in ("data", "volume", "model", "endpoint", "capture"))])
    assert json.loads((tmp_path / "iam" / "execution-policy.json").read_text()) == out["roles"]["execution"]["policy"]
    assert main(["iam-policy", "--config", str(config), "--operator-arn", "not-an-arn"]) == 2
