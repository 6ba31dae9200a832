"""Least-privilege IAM documents for a pipeline: the execution role's policy, the KMS key policies and
the bucket policy (TLS 1.2+ only, SSE-KMS only, with the configured keys only).

The execution role gets only what the definition uses: the bucket prefixes its S3 URIs name, the
keys its requests name, the ECR repositories of its images, the VPC it runs in.
"""

from __future__ import annotations

import re
from typing import Any

from pipelines.config import KEY_PURPOSES, PipelineConfig
from privml.errors import PrivmlError

VERSION = "2012-10-17"
_ECR_IMAGE = re.compile(r"^(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/([^:@]+)")


def _s3_prefixes(definition: dict, bucket: str) -> list[str]:
    """Key prefixes under `bucket` that the definition's literal S3 URIs (and defaults) name."""
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, str) and node.startswith(f"s3://{bucket}/"):
            key = node[len(f"s3://{bucket}/") :]
            found.add(key.split("/", 1)[0] if "/" in key else key)
        elif isinstance(node, dict):
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(definition)
    return sorted(found)


def _images(definition: dict) -> list[tuple[str, str, str]]:
    images: set[tuple[str, str, str]] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("ImageUri", "TrainingImage", "Image") and isinstance(value, str):
                    match = _ECR_IMAGE.match(value)
                    if match:
                        images.add(match.groups())
                else:
                    walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(definition)
    return sorted(images)


def execution_role_policy(config: PipelineConfig, definition: dict) -> dict:
    part, region, account = config.partition, config.region, config.account_id
    bucket = config.bucket
    prefixes = _s3_prefixes(definition, bucket) or [config.prefix]
    keys = {purpose: config.key_arn(purpose) for purpose in KEY_PURPOSES}
    statements: list[dict[str, Any]] = [
        {
            "Sid": "ReadWriteOwnPrefixes",
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload"],
            "Resource": [f"arn:{part}:s3:::{bucket}/{p}/*" for p in prefixes],
        },
        {
            "Sid": "ListOwnPrefixes",
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": f"arn:{part}:s3:::{bucket}",
            "Condition": {"StringLike": {"s3:prefix": [f"{p}/*" for p in prefixes]}},
        },
        {
            "Sid": "UseObjectKeysThroughS3",
            "Effect": "Allow",
            "Action": ["kms:Decrypt", "kms:GenerateDataKey", "kms:Encrypt"],
            "Resource": [keys["data"], keys["model"], keys["capture"]],
            "Condition": {"StringEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com"}},
        },
        {
            "Sid": "GrantVolumeKeysToSageMaker",
            "Effect": "Allow",
            "Action": ["kms:CreateGrant", "kms:DescribeKey"],
            "Resource": [keys["volume"], keys["endpoint"]],
            "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}},
        },
        {
            "Sid": "RunPipelineJobs",
            "Effect": "Allow",
            "Action": [
                "sagemaker:CreateProcessingJob",
                "sagemaker:DescribeProcessingJob",
                "sagemaker:StopProcessingJob",
                "sagemaker:CreateTrainingJob",
                "sagemaker:DescribeTrainingJob",
                "sagemaker:StopTrainingJob",
                "sagemaker:CreateModel",
                "sagemaker:DescribeModel",
                "sagemaker:AddTags",
            ],
            "Resource": [
                f"arn:{part}:sagemaker:{region}:{account}:processing-job/*",
                f"arn:{part}:sagemaker:{region}:{account}:training-job/*",
                f"arn:{part}:sagemaker:{region}:{account}:model/*",
            ],
        },
        {
            "Sid": "PassOnlyThisRoleToSageMaker",
            "Effect": "Allow",
            "Action": "iam:PassRole",
            "Resource": config.role_arn,
            "Condition": {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
        },
        {
            "Sid": "JobLogs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
            "Resource": f"arn:{part}:logs:{region}:{account}:log-group:/aws/sagemaker/*",
        },
        {
            "Sid": "JobMetrics",
            "Effect": "Allow",
            "Action": "cloudwatch:PutMetricData",
            "Resource": "*",  # PutMetricData has no resource type; the namespace condition scopes it
            "Condition": {"StringLike": {"cloudwatch:namespace": "/aws/sagemaker/*"}},
        },
    ]
    images = _images(definition)
    if images:
        statements.append(
            {
                "Sid": "PullJobImages",
                "Effect": "Allow",
                "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"],
                "Resource": [f"arn:{part}:ecr:{r}:{a}:repository/{repo}" for a, r, repo in images],
            }
        )
        statements.append(
            {"Sid": "EcrLogin", "Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"}
        )
    if config.network.subnets:
        statements += [
            {
                "Sid": "JobNetworkInterfacesInConfiguredVpc",
                "Effect": "Allow",
                "Action": [
                    "ec2:CreateNetworkInterface",
                    "ec2:CreateNetworkInterfacePermission",
                    "ec2:DeleteNetworkInterface",
                    "ec2:DeleteNetworkInterfacePermission",
                ],
                "Resource": [
                    f"arn:{part}:ec2:{region}:{account}:network-interface/*",
                    *(f"arn:{part}:ec2:{region}:{account}:subnet/{s}" for s in config.network.subnets),
                    *(
                        f"arn:{part}:ec2:{region}:{account}:security-group/{g}"
                        for g in config.network.security_group_ids
                    ),
                ],
            },
            {
                "Sid": "DescribeVpc",
                "Effect": "Allow",
                "Action": [
                    "ec2:DescribeNetworkInterfaces",
                    "ec2:DescribeVpcs",
                    "ec2:DescribeDhcpOptions",
                    "ec2:DescribeSubnets",
                    "ec2:DescribeSecurityGroups",
                ],
                "Resource": "*",  # EC2 Describe* calls do not support resource-level permissions
            },
        ]
    return {"Version": VERSION, "Statement": statements}


def key_policy(config: PipelineConfig, purpose: str) -> dict:
    """The key policy for one purpose's KMS key: account administrators, and the execution role's use."""
    part, region, account = config.partition, config.region, config.account_id
    admin = {
        "Sid": "AccountAdministersKey",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:{part}:iam::{account}:root"},
        "Action": "kms:*",
        "Resource": "*",
    }
    if purpose in ("volume", "endpoint"):
        use = {
            "Sid": "SageMakerVolumesThroughGrants",
            "Effect": "Allow",
            "Principal": {"AWS": config.role_arn},
            "Action": ["kms:CreateGrant", "kms:DescribeKey"],
            "Resource": "*",
            "Condition": {
                "Bool": {"kms:GrantIsForAWSResource": "true"},
                "StringEquals": {"kms:ViaService": f"sagemaker.{region}.amazonaws.com"},
            },
        }
    else:
        use = {
            "Sid": "ExecutionRoleThroughS3",
            "Effect": "Allow",
            "Principal": {"AWS": config.role_arn},
            "Action": ["kms:Decrypt", "kms:GenerateDataKey", "kms:Encrypt"],
            "Resource": "*",
            "Condition": {"StringEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com"}},
        }
    return {"Version": VERSION, "Statement": [admin, use]}


def bucket_policy(config: PipelineConfig) -> dict:
    """TLS 1.2+ only; every PutObject SSE-KMS under one of the keys that write into the bucket.

    privml.crypto's policy allows one key; the pipeline's bucket receives objects under three
    (data; model artifacts, written by training jobs; endpoint capture), so its key condition is
    widened to those three and nothing else.
    """
    from privml.crypto.bucket_policy import bucket_policy as single_key_policy

    keys = [config.key_arn(p) for p in ("data", "model", "capture")]
    if not all(":key/" in key for key in keys):
        raise PrivmlError("kms: the bucket policy needs key ARNs (S3 compares key ARNs, not aliases)")
    policy = single_key_policy(config.bucket, keys[0])
    for statement in policy["Statement"]:
        condition = statement.get("Condition", {}).get("StringNotEquals", {})
        if "s3:x-amz-server-side-encryption-aws-kms-key-id" in condition:
            condition["s3:x-amz-server-side-encryption-aws-kms-key-id"] = sorted(set(keys))
    return policy


def iam_documents(config: PipelineConfig, definition: dict) -> dict:
    return {
        "execution_role_policy": execution_role_policy(config, definition),
        "key_policies": {purpose: key_policy(config, purpose) for purpose in KEY_PURPOSES},
        "bucket_policy": bucket_policy(config),
    }
