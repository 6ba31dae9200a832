"""Choosing the key provider: the local KMS unless PRIVML_KEY_PROVIDER=aws."""

from __future__ import annotations

import os
from pathlib import Path

from privml.crypto.keys import KeyProvider
from privml.errors import PrivmlError

PROVIDER_ENV = "PRIVML_KEY_PROVIDER"


def default_key_provider(workspace: Path | None = None) -> KeyProvider:
    choice = (os.environ.get(PROVIDER_ENV) or "local").strip().lower()
    if choice == "local":
        from privml.crypto.local_kms import LocalKms

        return LocalKms.open(workspace)
    if choice == "aws":
        import boto3

        from privml.crypto.aws_kms import AwsKms

        # Region and credentials come from the usual boto3 chain (env, profile, instance role).
        return AwsKms(boto3.client("kms"))
    raise PrivmlError(f"{PROVIDER_ENV} must be 'local' or 'aws', got {choice!r}")
