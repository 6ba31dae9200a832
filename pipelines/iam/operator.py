"""The operator's policy: the calls `privml run --aws` (pipelines/aws.py), `privml deploy --aws`
(pipelines/deploy.py), `privml invoke --aws` and the endpoint's tear-down make, on the resources the
config and the deploy plan name. Required permissions per API: SageMaker's API permissions reference
(https://docs.aws.amazon.com/sagemaker/latest/dg/api-permissions-reference.html) and the SageMaker service
authorization reference for the pipeline actions.
"""

from __future__ import annotations

from typing import Any

from pipelines.iam.policies import SAGEMAKER, Arns, _objects, _via_s3
from pipelines.iam.usage import Location

# Every SageMaker call the operator's commands make, by the resource type it acts on.
PIPELINE_ACTIONS = ["sagemaker:CreatePipeline", "sagemaker:UpdatePipeline", "sagemaker:DescribePipeline",
                    "sagemaker:StartPipelineExecution"]
EXECUTION_ACTIONS = ["sagemaker:DescribePipelineExecution", "sagemaker:ListPipelineExecutionSteps",
                     "sagemaker:StopPipelineExecution"]
MODEL_ACTIONS = ["sagemaker:CreateModel", "sagemaker:DescribeModel", "sagemaker:DeleteModel"]
ENDPOINT_CONFIG_ACTIONS = ["sagemaker:CreateEndpointConfig", "sagemaker:DescribeEndpointConfig",
                           "sagemaker:DeleteEndpointConfig"]
# CreateEndpoint and UpdateEndpoint act on the endpoint and on the endpoint config they name.
DEPLOY_ENDPOINT_ACTIONS = ["sagemaker:CreateEndpoint", "sagemaker:UpdateEndpoint"]
ENDPOINT_ACTIONS = ["sagemaker:DescribeEndpoint", "sagemaker:DeleteEndpoint", "sagemaker:InvokeEndpoint"]


def _name_pattern(name: str) -> str:
    # SageMaker ARNs carry resource names in lower case.
    return name.lower()


def operator_statements(arns: Arns, config: Any, plan: Any, uploads: set[Location], upload_key: str,
                        passed_roles: list[str], named_operator: bool = False) -> list[dict]:
    pipeline = arns.sagemaker(f"pipeline/{_name_pattern(config.pipeline_name)}")
    model = arns.sagemaker(f"model/{_name_pattern(plan.model['ModelName'])}")
    endpoint_config = arns.sagemaker(f"endpoint-config/{_name_pattern(plan.endpoint_config['EndpointConfigName'])}")
    endpoint = arns.sagemaker(f"endpoint/{_name_pattern(plan.endpoint['EndpointName'])}")
    statements: list[dict[str, Any]] = [
        {"Sid": "FindPipeline", "Effect": "Allow", "Action": "sagemaker:ListPipelines",
         "Resource": "*"},  # List calls have no resource-level permissions
        {"Sid": "UpsertAndStartPipeline", "Effect": "Allow", "Action": PIPELINE_ACTIONS, "Resource": pipeline},
        {"Sid": "FollowExecutions", "Effect": "Allow", "Action": EXECUTION_ACTIONS,
         "Resource": f"{pipeline}/execution/*"},
        {"Sid": "PassPipelineAndModelRoles", "Effect": "Allow", "Action": "iam:PassRole", "Resource": passed_roles,
         "Condition": {"StringEquals": {"iam:PassedToService": SAGEMAKER}}},
        {"Sid": "DeployModel", "Effect": "Allow", "Action": MODEL_ACTIONS, "Resource": model},
        {"Sid": "DeployEndpointConfig", "Effect": "Allow", "Action": ENDPOINT_CONFIG_ACTIONS,
         "Resource": endpoint_config},
        {"Sid": "DeployEndpoint", "Effect": "Allow", "Action": DEPLOY_ENDPOINT_ACTIONS,
         "Resource": [endpoint, endpoint_config]},
        {"Sid": "UseAndTearDownEndpoint", "Effect": "Allow", "Action": ENDPOINT_ACTIONS, "Resource": endpoint},
    ]
    if plan.endpoint_config.get("KmsKeyId"):
        statements.append({"Sid": "GrantEndpointKeyToSageMaker", "Effect": "Allow", "Action": "kms:CreateGrant",
                           "Resource": arns.kms(plan.endpoint_config["KmsKeyId"]),
                           "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}}})
    if config.tags:
        statements.append({"Sid": "TagWhatItCreates", "Effect": "Allow", "Action": "sagemaker:AddTags",
                           "Resource": [pipeline, model, endpoint_config, endpoint]})
    if uploads:
        statements.append({"Sid": "UploadCodeAndInputs", "Effect": "Allow", "Action": "s3:PutObject",
                           "Resource": _objects(arns, uploads)})
        statements.append({"Sid": "EncryptUploadsThroughS3", "Effect": "Allow", "Action": "kms:GenerateDataKey",
                           "Resource": sorted({arns.kms(loc.key or upload_key) for loc in uploads}),
                           "Condition": _via_s3(arns)})
    if not config.key_preparation:
        # run --aws reads the policy object once before uploading anything: a keyed policy with no
        # key-preparation path is refused there (pipelines/aws.py). Decrypting it needs the data key, which
        # the key policy grants only to a named operator: granted to the account, any IAM policy in it
        # could read the data (without it the check is skipped with a warning and Anonymize refuses).
        bucket, key = config.default_policy_uri[len("s3://"):].split("/", 1)
        statements.append({"Sid": "CheckPolicyForKeyedTechniques", "Effect": "Allow", "Action": "s3:GetObject",
                           "Resource": arns.s3(bucket, key)})
        if named_operator:
            statements.append({"Sid": "ReadPolicyThroughS3", "Effect": "Allow", "Action": "kms:Decrypt",
                               "Resource": arns.kms(config.key_arn("data")), "Condition": _via_s3(arns)})
    return statements
