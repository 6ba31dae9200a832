"""Choosing the key provider from `PRIVML_KEY_PROVIDER`: local (default), aws, file or none.

- local: the local KMS in the workspace (the CLI on a laptop; local mode's key-preparation job).
- aws: AWS KMS through boto3 (the key-preparation step on SageMaker: not network-isolated, in the VPC
  with a KMS interface endpoint).
- file: the derived-secrets file at `PRIVML_KEY_FILE` (the network-isolated Anonymize job and the
  endpoint, which cannot reach KMS: `privml.crypto.key_file`).
- none: no key material at all (jobs whose techniques need none: Train, Evaluate); any use is refused.

Every pipeline step sets the variable explicitly; the default is for interactive use only.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from privml.crypto.keys import DataKey, KeyProvider
from privml.errors import KeyUnavailable, PrivmlError

PROVIDER_ENV = "PRIVML_KEY_PROVIDER"
CHOICES = ("local", "aws", "file", "none")


class NoKeys:
    """The provider of a step that is given no key material: every use is refused, naming the key."""

    def __init__(self, reason: str = f"{PROVIDER_ENV}=none: this step is given no key material") -> None:
        self.reason = reason

    def __repr__(self) -> str:
        return "NoKeys()"

    def resolve(self, ref: str) -> str:
        raise KeyUnavailable(f"key {ref!r}: {self.reason}")

    def derive_secret(self, key_id: str, purpose: str, length: int = 32) -> bytes:
        raise KeyUnavailable(f"key {key_id!r}, purpose {purpose!r}: {self.reason}")

    def generate_data_key(self, key_id: str, context: Mapping[str, str], length: int = 32) -> DataKey:
        raise KeyUnavailable(f"key {key_id!r}: {self.reason}")

    def decrypt_data_key(self, encrypted: DataKey, context: Mapping[str, str]) -> bytes:
        raise KeyUnavailable(f"key {encrypted.key_id!r}: {self.reason}")


def provider_choice() -> str:
    choice = (os.environ.get(PROVIDER_ENV) or "local").strip().lower()
    if choice not in CHOICES:
        raise PrivmlError(f"{PROVIDER_ENV} must be one of {', '.join(CHOICES)}, got {choice!r}")
    return choice


def key_provider(choice: str, workspace: Path | None = None) -> KeyProvider:
    if choice == "local":
        from privml.crypto.local_kms import LocalKms

        return LocalKms.open(workspace)
    if choice == "aws":
        import boto3

        from privml.crypto.aws_kms import AwsKms

        # Region and credentials come from the usual boto3 chain (env, profile, instance role).
        return AwsKms(boto3.client("kms"))
    if choice == "file":
        from privml.crypto.key_file import FILE_ENV, FileKeyProvider

        path = os.environ.get(FILE_ENV)
        if not path:
            raise KeyUnavailable(f"{PROVIDER_ENV}=file needs {FILE_ENV}, the path of the derived-secrets file")
        return FileKeyProvider.open(path)
    if choice == "none":
        return NoKeys()
    raise PrivmlError(f"{PROVIDER_ENV} must be one of {', '.join(CHOICES)}, got {choice!r}")


def default_key_provider(workspace: Path | None = None) -> KeyProvider:
    return key_provider(provider_choice(), workspace)
