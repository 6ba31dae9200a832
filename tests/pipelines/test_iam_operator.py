"""The operator's policy against the calls `run --aws`, `deploy --aws`, `invoke --aws` and the tear-down
really make: captured from botocore while they run against a moto server, then mapped to the IAM
actions AWS checks for each (SageMaker's API permissions reference: CreatePipeline and CreateModel also
need iam:PassRole for the role they name, CreateEndpoint needs kms:CreateGrant for the endpoint config's
key, a request with Tags needs sagemaker:AddTags; an SSE-KMS PutObject needs kms:GenerateDataKey)."""

from __future__ import annotations

from typing import Any

import pytest

from pipelines.aws import run_on_aws
from pipelines.deploy import deploy_aws

from .conftest import ACCOUNT, REGION, Built, make_config
from .iam_calls import TLS
from .iam_eval import Call, is_allowed
from .test_aws import aws, moto_endpoint  # noqa: F401  (fixtures)

OPERATOR = f"arn:aws:iam::{ACCOUNT}:user/operator"
SM = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}"
# Which request member names the resource each SageMaker operation acts on.
_RESOURCE_OF = {
    "CreatePipeline": ("pipeline", "PipelineName"), "UpdatePipeline": ("pipeline", "PipelineName"),
    "DescribePipeline": ("pipeline", "PipelineName"), "StartPipelineExecution": ("pipeline", "PipelineName"),
    "CreateModel": ("model", "ModelName"), "DeleteModel": ("model", "ModelName"),
    "DescribeModel": ("model", "ModelName"),
    "CreateEndpointConfig": ("endpoint-config", "EndpointConfigName"),
    "DeleteEndpointConfig": ("endpoint-config", "EndpointConfigName"),
    "CreateEndpoint": ("endpoint", "EndpointName"), "UpdateEndpoint": ("endpoint", "EndpointName"),
    "DeleteEndpoint": ("endpoint", "EndpointName"), "DescribeEndpoint": ("endpoint", "EndpointName"),
    "InvokeEndpoint": ("endpoint", "EndpointName"),
}


class Recorder:
    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict]] = []

    def __call__(self, params: dict, model: Any, **_kwargs: Any) -> None:
        self.requests.append((model.service_model.endpoint_prefix, model.name, dict(params)))


def _iam_calls(requests: list[tuple[str, str, dict]]) -> list[Call]:
    calls: list[Call] = []
    key_of_config: dict[str, str] = {}
    for service, operation, params in requests:
        why = f"{service} {operation}"
        if service == "s3" and operation == "PutObject":
            context = {**TLS, "s3:x-amz-server-side-encryption": params.get("ServerSideEncryption", ""),
                       "s3:x-amz-server-side-encryption-aws-kms-key-id": params.get("SSEKMSKeyId", "")}
            calls.append(Call(OPERATOR, "s3:PutObject", f"arn:aws:s3:::{params['Bucket']}/{params['Key']}", context,
                              why))
            calls.append(Call(OPERATOR, "kms:GenerateDataKey", params["SSEKMSKeyId"],
                              {"kms:ViaService": f"s3.{REGION}.amazonaws.com"}, why))
            continue
        if service == "s3" and operation == "GetObject":  # run --aws reads the policy object (keyed check)
            calls.append(Call(OPERATOR, "s3:GetObject", f"arn:aws:s3:::{params['Bucket']}/{params['Key']}", TLS,
                              why))
            continue
        assert service in ("api.sagemaker", "runtime.sagemaker"), why
        if operation == "ListPipelines":
            calls.append(Call(OPERATOR, "sagemaker:ListPipelines", "*", {}, why))
            continue
        kind, member = _RESOURCE_OF[operation]
        resource = f"{SM}:{kind}/{params[member].lower()}"
        calls.append(Call(OPERATOR, f"sagemaker:{operation}", resource, {}, why))
        for role_member in ("RoleArn", "ExecutionRoleArn"):
            if role_member in params:
                calls.append(Call(OPERATOR, "iam:PassRole", params[role_member],
                                  {"iam:PassedToService": "sagemaker.amazonaws.com"}, why))
        if params.get("Tags"):
            calls.append(Call(OPERATOR, "sagemaker:AddTags", resource, {}, why))
        if operation == "CreateEndpointConfig" and params.get("KmsKeyId"):
            key_of_config[params["EndpointConfigName"]] = params["KmsKeyId"]
        if operation in ("CreateEndpoint", "UpdateEndpoint"):
            config_name = params["EndpointConfigName"]
            calls.append(Call(OPERATOR, f"sagemaker:{operation}", f"{SM}:endpoint-config/{config_name.lower()}", {},
                              why))
            if config_name in key_of_config:
                calls.append(Call(OPERATOR, "kms:CreateGrant", key_of_config[config_name],
                                  {"kms:GrantIsForAWSResource": "true"}, why))
    return calls


@pytest.fixture
def recorded(built: Built, aws: dict[str, Any], sdk_config_file: Any) -> dict[str, Any]:  # noqa: F811
    config = make_config(images={"profile": "privml"}, pipeline_name="privml")
    recorder = Recorder()
    session = aws["session"]
    session.events.register("before-parameter-build.*.*", recorder)
    record = run_on_aws(config, boto_session=session, endpoint_url=aws["endpoint"])
    run_on_aws(config, boto_session=session, endpoint_url=aws["endpoint"])  # the second run updates
    client = session.client("sagemaker", endpoint_url=aws["endpoint"], region_name=REGION)
    model_data = f"{config.base_uri}/models/pipelines-x-train-y/output/model.tar.gz"
    deployed = deploy_aws(config, model_data, client=client)
    runtime = session.client("sagemaker-runtime", endpoint_url=aws["endpoint"], region_name=REGION)
    runtime.invoke_endpoint(EndpointName=deployed["endpoint_name"], ContentType="text/csv", Body=b"1,2\n")
    # The README's tear-down, in the order it gives.
    model_name = deployed["model_arn"].rsplit("/", 1)[-1]
    config_name = deployed["endpoint_config_arn"].rsplit("/", 1)[-1]
    client.delete_endpoint(EndpointName=deployed["endpoint_name"])
    client.delete_endpoint_config(EndpointConfigName=config_name)
    client.delete_model(ModelName=model_name)
    session.events.unregister("before-parameter-build.*.*", recorder)
    return {"config": config, "requests": recorder.requests, "record": record}


def test_operator_policy_allows_every_call_run_deploy_invoke_and_teardown_make(
        built: Built, recorded: dict[str, Any]) -> None:
    from pipelines.iam import iam_documents

    config = recorded["config"]
    operations = {op for _s, op, _p in recorded["requests"]}
    assert operations >= {"PutObject", "ListPipelines", "CreatePipeline", "UpdatePipeline", "StartPipelineExecution",
                          "CreateModel", "CreateEndpointConfig", "CreateEndpoint", "InvokeEndpoint",
                          "DeleteEndpoint", "DeleteEndpointConfig", "DeleteModel"}
    uploads = {uri: a.kms_key_id for uri, a in built.artifacts.objects.items()}
    documents = iam_documents(config, built.definition, uploads=uploads)
    operator = documents["operator"]["policy"]
    key_policies = {config.key_arn(p): policy for p, policy in documents["key_policies"].items()}
    refused = []
    for call in _iam_calls(recorded["requests"]):
        resource_policy = key_policies.get(call.resource) if call.action.startswith("kms:") else (
            documents["bucket_policy"] if call.action.startswith("s3:") else None)
        if not is_allowed(call, [operator], resource_policy):
            refused.append(call)
    assert refused == []


def test_operator_policy_refuses_what_the_operator_never_needs(built: Built) -> None:
    from pipelines.iam import iam_documents

    config = make_config(pipeline_name="privml")
    documents = iam_documents(config, built.definition,
                              uploads={uri: a.kms_key_id for uri, a in built.artifacts.objects.items()})
    operator = documents["operator"]["policy"]
    sagemaker = {"iam:PassedToService": "sagemaker.amazonaws.com"}
    for call in [
        Call(OPERATOR, "iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/admin", sagemaker),
        Call(OPERATOR, "iam:PassRole", config.role_arn, {"iam:PassedToService": "ec2.amazonaws.com"}),
        Call(OPERATOR, "sagemaker:CreatePipeline", f"{SM}:pipeline/another-pipeline"),
        Call(OPERATOR, "sagemaker:DeleteEndpoint", f"{SM}:endpoint/someone-elses"),
        Call(OPERATOR, "sagemaker:CreateProcessingJob", f"{SM}:processing-job/adhoc"),
        Call(OPERATOR, "s3:PutObject", f"arn:aws:s3:::{config.bucket}/{config.prefix}/runs/x/anonymize/train/a.csv",
             TLS),
        Call(OPERATOR, "s3:GetObject", f"arn:aws:s3:::{config.bucket}/{config.prefix}/runs/x/anonymize/train/a.csv",
             TLS),
        Call(OPERATOR, "kms:CreateGrant", config.key_arn("endpoint"), {}),  # not for an AWS resource
    ]:
        resource_policy = None
        if call.action.startswith("kms:"):
            resource_policy = documents["key_policies"]["endpoint"]
        assert not is_allowed(call, [operator], resource_policy), call
