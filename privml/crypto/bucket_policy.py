"""An S3 bucket policy that enforces what S3ObjectStore does: TLS only (1.2+), and every put encrypted
with SSE-KMS under the one named key."""

from __future__ import annotations

import re
from typing import Any

from privml.errors import PrivmlError

_KEY_ARN_RE = re.compile(r"^arn:(aws[a-z-]*):kms:[a-z0-9-]+:\d{12}:key/[A-Za-z0-9-]+$")
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


def bucket_policy(bucket: str, key_arn: str) -> dict[str, Any]:
    """The policy document for `bucket`; `key_arn` must be a full KMS key ARN (S3 compares ARNs)."""
    if not _BUCKET_RE.match(bucket):
        raise PrivmlError(f"invalid bucket name {bucket!r}")
    match = _KEY_ARN_RE.match(key_arn)
    if not match:
        raise PrivmlError("key_arn must be a full KMS key ARN (arn:PARTITION:kms:REGION:ACCOUNT:key/ID)")
    partition = match.group(1)
    bucket_arn = f"arn:{partition}:s3:::{bucket}"
    objects_arn = f"{bucket_arn}/*"
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [bucket_arn, objects_arn],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
            {
                "Sid": "DenyTlsOlderThan12",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [bucket_arn, objects_arn],
                "Condition": {"NumericLessThan": {"s3:TlsVersion": "1.2"}},
            },
            {
                # A negated operator is true when the header is absent: this also denies unencrypted puts.
                "Sid": "DenyPutWithoutSseKms",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:PutObject",
                "Resource": objects_arn,
                "Condition": {"StringNotEquals": {"s3:x-amz-server-side-encryption": "aws:kms"}},
            },
            {
                "Sid": "DenyPutWithOtherKmsKey",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:PutObject",
                "Resource": objects_arn,
                "Condition": {"StringNotEquals": {"s3:x-amz-server-side-encryption-aws-kms-key-id": key_arn}},
            },
        ],
    }
