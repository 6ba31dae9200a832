"""Resource policies: each role's trust policy, one key policy per KMS key, the bucket policy.

Key policies grant each use on the principal that makes the call: the role whose jobs read or write
through S3 (kms:ViaService), the role SageMaker creates a volume grant for (kms:GrantIsForAWSResource),
the role whose container derives secrets (kms:GenerateMac), the operator who creates the endpoint
(CreateEndpoint needs kms:CreateGrant on the endpoint config's KmsKeyId:
https://docs.aws.amazon.com/sagemaker/latest/dg/api-permissions-reference.html). The account root keeps
the administration of each key but none of its uses, so an IAM policy elsewhere in the account cannot
add a reader the key policy does not name.
"""

from __future__ import annotations

from typing import Any

from pipelines.iam.policies import SAGEMAKER, VERSION, Arns

# Administration without use: no Encrypt/Decrypt/GenerateDataKey/GenerateMac/CreateGrant/ReEncrypt.
KEY_ADMIN_ACTIONS = [
    "kms:CancelKeyDeletion", "kms:CreateAlias", "kms:DeleteAlias", "kms:DescribeKey", "kms:DisableKey",
    "kms:DisableKeyRotation", "kms:EnableKey", "kms:EnableKeyRotation", "kms:GetKeyPolicy",
    "kms:GetKeyRotationStatus", "kms:ListAliases", "kms:ListGrants", "kms:ListResourceTags", "kms:PutKeyPolicy",
    "kms:RetireGrant", "kms:RevokeGrant", "kms:ScheduleKeyDeletion", "kms:TagResource", "kms:UntagResource",
    "kms:UpdateAlias", "kms:UpdateKeyDescription",
]


def sagemaker_trust_policy(arns: Arns) -> dict:
    """SageMaker may assume the role, for resources of this account and region only (confused deputy:
    https://docs.aws.amazon.com/sagemaker/latest/dg/security-confused-deputy-prevention.html)."""
    return {
        "Version": VERSION,
        "Statement": [{
            "Sid": "SageMakerInThisAccount",
            "Effect": "Allow",
            "Principal": {"Service": SAGEMAKER},
            "Action": "sts:AssumeRole",
            "Condition": {
                "StringEquals": {"aws:SourceAccount": arns.account},
                "ArnLike": {"aws:SourceArn": arns.sagemaker("*")},
            },
        }],
    }


def operator_trust_policy(arns: Arns) -> dict:
    """For an operator role: principals of this account that signed in with MFA may assume it."""
    return {
        "Version": VERSION,
        "Statement": [{
            "Sid": "AccountPrincipalsWithMfa",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:{arns.partition}:iam::{arns.account}:root"},
            "Action": "sts:AssumeRole",
            "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"}},
        }],
    }


def _as_list(value: Any) -> list:
    return value if isinstance(value, list) else [value]


def key_policy(arns: Arns, key_arn: str, users: dict[str, dict]) -> dict:
    """The key policy of one key: administration by the account, each use by the principal that makes it.

    `users` maps a principal ARN to its identity policy; every KMS statement of that policy naming this
    key becomes a key-policy statement for that principal (same actions, same conditions).
    """
    statements: list[dict[str, Any]] = [{
        "Sid": "AccountAdministersKey",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:{arns.partition}:iam::{arns.account}:root"},
        "Action": KEY_ADMIN_ACTIONS,
        "Resource": "*",
    }]
    for principal, policy in sorted(users.items()):
        name = principal.rsplit("/", 1)[-1] if ":role/" in principal or ":user/" in principal else "Account"
        for statement in policy["Statement"]:
            actions = [a for a in _as_list(statement["Action"]) if a.startswith("kms:")]
            if not actions or key_arn not in _as_list(statement["Resource"]):
                continue
            use: dict[str, Any] = {
                "Sid": f"{name}{statement['Sid']}".replace("-", "").replace("_", "")[:128],
                "Effect": "Allow",
                "Principal": {"AWS": principal},
                "Action": actions if len(actions) > 1 else actions[0],
                "Resource": "*",
            }
            if "Condition" in statement:
                use["Condition"] = statement["Condition"]
            statements.append(use)
    return {"Version": VERSION, "Statement": statements}


def bucket_policy(bucket: str, upload_keys: list[str]) -> dict:
    """TLS 1.2+ only; every PutObject SSE-KMS under one of the keys that write into the bucket."""
    from privml.crypto.bucket_policy import bucket_policy as single_key_policy

    keys = sorted(set(upload_keys))
    policy = single_key_policy(bucket, keys[0])
    for statement in policy["Statement"]:
        condition = statement.get("Condition", {}).get("StringNotEquals", {})
        if "s3:x-amz-server-side-encryption-aws-kms-key-id" in condition:
            condition["s3:x-amz-server-side-encryption-aws-kms-key-id"] = keys if len(keys) > 1 else keys[0]
    return policy
