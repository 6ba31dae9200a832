"""Identity policies: each job role, the pipeline role, the operator; built from `usage.read_usage`.

What each role gets follows SageMaker's "execution role permissions" for CreateProcessingJob,
CreateTrainingJob and CreateModel (https://docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-roles.html):
logs and metrics; s3:ListBucket, s3:GetObject on the inputs and s3:PutObject on the outputs; the
images' ECR repositories; the VPC's network interfaces; kms:Decrypt for SSE-KMS inputs, kms:Encrypt
for the output key and kms:CreateGrant for the volume key. Reads and writes are separate statements
over separate prefixes: a job writes only where the definition sends its outputs, and reads its code
and inputs from prefixes it cannot write.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from pipelines.iam.usage import Location, PipelineUsage, RoleUsage

VERSION = "2012-10-17"
SAGEMAKER = "sagemaker.amazonaws.com"
# SageMaker Pipelines names the jobs and models it creates "pipelines-<execution id>-<step>-<suffix>".
PIPELINE_RESOURCE_PREFIX = "pipelines-"
_LOG_GROUPS = {"processing-job": "ProcessingJobs", "training-job": "TrainingJobs", "model": "Endpoints"}


class Arns:
    """ARN builders for one account and region (from the config: nothing is built in)."""

    def __init__(self, partition: str, region: str, account: str) -> None:
        self.partition, self.region, self.account = partition, region, account

    def s3(self, bucket: str, key: str | None = None) -> str:
        return f"arn:{self.partition}:s3:::{bucket}" + (f"/{key}" if key is not None else "")

    def sagemaker(self, resource: str) -> str:
        return f"arn:{self.partition}:sagemaker:{self.region}:{self.account}:{resource}"

    def kms(self, key: str) -> str:
        return key if key.startswith("arn:") else f"arn:{self.partition}:kms:{self.region}:{self.account}:{key}"

    def log_group(self, name: str) -> str:
        return f"arn:{self.partition}:logs:{self.region}:{self.account}:log-group:{name}"

    def ec2(self, resource: str) -> str:
        return f"arn:{self.partition}:ec2:{self.region}:{self.account}:{resource}"


def _objects(arns: Arns, locations: set[Location]) -> list[str]:
    return sorted({arns.s3(loc.bucket, loc.prefix + "*") for loc in locations})


def _list_statements(arns: Arns, sid: str, locations: set[Location]) -> list[dict]:
    by_bucket: dict[str, set[str]] = defaultdict(set)
    for loc in locations:
        # SageMaker lists an input's prefix as the request gives it, with or without its trailing slash.
        by_bucket[loc.bucket].add(loc.prefix.rstrip("/") + "*")
    return [
        {
            "Sid": f"{sid}{index}" if len(by_bucket) > 1 else sid,
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": arns.s3(bucket),
            "Condition": {"StringLike": {"s3:prefix": sorted(prefixes)}},
        }
        for index, (bucket, prefixes) in enumerate(sorted(by_bucket.items()))
    ]


def _via_s3(arns: Arns) -> dict:
    return {"StringEquals": {"kms:ViaService": f"s3.{arns.region}.amazonaws.com"}}


def job_role_statements(arns: Arns, usage: RoleUsage, upload_key: str) -> list[dict]:
    """What SageMaker does with this role while it runs the role's jobs and models."""
    statements: list[dict[str, Any]] = []
    if usage.reads:
        statements.append({"Sid": "ReadInputsAndCode", "Effect": "Allow", "Action": "s3:GetObject",
                           "Resource": _objects(arns, usage.reads)})
        statements += _list_statements(arns, "ListInputPrefixes", usage.reads)
    if usage.writes:
        statements.append({"Sid": "WriteOutputsOnly", "Effect": "Allow",
                           "Action": ["s3:PutObject", "s3:AbortMultipartUpload"],
                           "Resource": _objects(arns, usage.writes)})
    read_keys = sorted({arns.kms(loc.key or upload_key) for loc in usage.reads})
    write_keys = sorted({arns.kms(loc.key or upload_key) for loc in usage.writes})
    if read_keys:
        statements.append({"Sid": "DecryptInputsThroughS3", "Effect": "Allow", "Action": "kms:Decrypt",
                           "Resource": read_keys, "Condition": _via_s3(arns)})
    if write_keys:
        # S3 asks KMS for a data key on PutObject and decrypts it again to complete a multipart upload;
        # SageMaker documents kms:Encrypt for the output key.
        statements.append({"Sid": "EncryptOutputsThroughS3", "Effect": "Allow",
                           "Action": ["kms:GenerateDataKey", "kms:Encrypt", "kms:Decrypt"],
                           "Resource": write_keys, "Condition": _via_s3(arns)})
    if usage.volume_keys:
        statements.append({"Sid": "GrantVolumeKeyToSageMaker", "Effect": "Allow", "Action": "kms:CreateGrant",
                           "Resource": sorted(arns.kms(k) for k in usage.volume_keys),
                           "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}}})
    if usage.direct_keys:
        # Keys named in the container's own environment or arguments: the container calls KMS itself
        # (privml's key provider derives secrets with GenerateMac); only a step with network reaches KMS.
        statements.append({"Sid": "DeriveSecretsWithHmacKey", "Effect": "Allow", "Action": "kms:GenerateMac",
                           "Resource": sorted(arns.kms(k) for k in usage.direct_keys)})
    groups = [f"/aws/sagemaker/{g}" for g in sorted({_LOG_GROUPS[k] for k in usage.job_kinds})]
    statements.append({"Sid": "JobLogGroups", "Effect": "Allow",
                       "Action": ["logs:CreateLogGroup", "logs:DescribeLogStreams"],
                       "Resource": [arns.log_group(g) for g in groups]})
    statements.append({"Sid": "JobLogStreams", "Effect": "Allow",
                       "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                       "Resource": [arns.log_group(g) + ":log-stream:*" for g in groups]})
    statements.append({"Sid": "JobMetrics", "Effect": "Allow", "Action": "cloudwatch:PutMetricData",
                       "Resource": "*",  # no resource type; the namespace condition scopes it
                       "Condition": {"StringLike": {"cloudwatch:namespace": "/aws/sagemaker/*"}}})
    if usage.images:
        statements.append({"Sid": "PullImages", "Effect": "Allow",
                           "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer",
                                      "ecr:BatchCheckLayerAvailability"],
                           "Resource": sorted(f"arn:{arns.partition}:ecr:{r}:{a}:repository/{repo}"
                                              for a, r, repo in usage.images)})
        statements.append({"Sid": "EcrLogin", "Effect": "Allow", "Action": "ecr:GetAuthorizationToken",
                           "Resource": "*"})  # no resource type
    return statements


def vpc_statements(arns: Arns, subnets: tuple[str, ...], groups: tuple[str, ...]) -> list[dict]:
    return [
        {"Sid": "JobNetworkInterfacesInConfiguredVpc", "Effect": "Allow", "Action": "ec2:CreateNetworkInterface",
         "Resource": [arns.ec2("network-interface/*"), *(arns.ec2(f"subnet/{s}") for s in subnets),
                      *(arns.ec2(f"security-group/{g}") for g in groups)]},
        {"Sid": "ManageJobNetworkInterfaces", "Effect": "Allow",
         "Action": ["ec2:CreateNetworkInterfacePermission", "ec2:DeleteNetworkInterface",
                    "ec2:DeleteNetworkInterfacePermission"],
         "Resource": arns.ec2("network-interface/*")},
        {"Sid": "DescribeVpc", "Effect": "Allow",
         "Action": ["ec2:DescribeNetworkInterfaces", "ec2:DescribeVpcs", "ec2:DescribeDhcpOptions",
                    "ec2:DescribeSubnets", "ec2:DescribeSecurityGroups"],
         "Resource": "*"},  # EC2 Describe* calls have no resource-level permissions
    ]


_CREATE = {
    "processing-job": ["sagemaker:CreateProcessingJob", "sagemaker:DescribeProcessingJob",
                       "sagemaker:StopProcessingJob"],
    "training-job": ["sagemaker:CreateTrainingJob", "sagemaker:DescribeTrainingJob", "sagemaker:StopTrainingJob"],
    "model": ["sagemaker:CreateModel", "sagemaker:DescribeModel"],
}


def pipeline_role_statements(arns: Arns, usage: PipelineUsage, upload_key: str, tagged: bool) -> list[dict]:
    """The pipeline's own role: start each step's job or model, pass the step roles, read property files.

    (https://docs.aws.amazon.com/sagemaker/latest/dg/build-and-manage-access.html)"""
    statements: list[dict[str, Any]] = []
    for kind in sorted(usage.job_kinds):
        statement: dict[str, Any] = {
            "Sid": "Start" + "".join(p.title() for p in kind.split("-")) + "s",
            "Effect": "Allow",
            "Action": _CREATE[kind],
            "Resource": arns.sagemaker(f"{kind}/{PIPELINE_RESOURCE_PREFIX}*"),
        }
        if kind in usage.isolated_kinds:
            # The role cannot start a job of this kind without the controls the definition sets.
            statement["Condition"] = {"Bool": {"sagemaker:NetworkIsolation": "true",
                                               "sagemaker:InterContainerTrafficEncryption": "true"}}
            # Describe/Stop carry no such keys: they get their own statement.
            statements.append({**statement, "Action": _CREATE[kind][:1]})
            statements.append({"Sid": statement["Sid"] + "Status", "Effect": "Allow", "Action": _CREATE[kind][1:],
                               "Resource": statement["Resource"]})
        else:
            statements.append(statement)
    if tagged:
        statements.append({"Sid": "TagWhatItCreates", "Effect": "Allow", "Action": "sagemaker:AddTags",
                           "Resource": [arns.sagemaker(f"{kind}/{PIPELINE_RESOURCE_PREFIX}*")
                                        for kind in sorted(usage.job_kinds)]})
    statements.append({"Sid": "PassStepRolesToSageMaker", "Effect": "Allow", "Action": "iam:PassRole",
                       "Resource": sorted(set(usage.step_roles.values())),
                       "Condition": {"StringEquals": {"iam:PassedToService": SAGEMAKER}}})
    if usage.property_files:
        statements.append({"Sid": "ReadPropertyFiles", "Effect": "Allow", "Action": "s3:GetObject",
                           "Resource": _objects(arns, usage.property_files)})
        statements.append({"Sid": "DecryptPropertyFilesThroughS3", "Effect": "Allow", "Action": "kms:Decrypt",
                           "Resource": sorted({arns.kms(loc.key or upload_key) for loc in usage.property_files}),
                           "Condition": _via_s3(arns)})
    return statements


def _merge_sids(statements: list[dict]) -> list[dict]:
    """One role can be both the pipeline role and a job role: keep statement ids unique."""
    seen: dict[str, int] = {}
    out = []
    for statement in statements:
        sid = statement["Sid"]
        seen[sid] = seen.get(sid, 0) + 1
        out.append(statement if seen[sid] == 1 else {**statement, "Sid": f"{sid}{seen[sid]}"})
    return out


def document(statements: list[dict]) -> dict:
    return {"Version": VERSION, "Statement": _merge_sids(statements)}
