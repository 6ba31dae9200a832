"""Fixtures for the crypto tests: a local KMS, a raw AES keyring and its AWS Encryption SDK twin,
moto KMS and S3."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aws_encryption_sdk
import pytest
from aws_encryption_sdk.identifiers import (
    Algorithm,
    CommitmentPolicy,
    EncryptionKeyType,
    WrappingAlgorithm,
)
from aws_encryption_sdk.internal.crypto.wrapping_keys import WrappingKey
from aws_encryption_sdk.key_providers.raw import RawMasterKey

from privml.crypto.local_kms import LocalKms
from privml.crypto.raw_aes import RawAesKeyring

REGION = "us-east-1"  # moto only
SUITES = {
    False: Algorithm.AES_256_GCM_HKDF_SHA512_COMMIT_KEY,  # 0x0478
    True: Algorithm.AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384,  # 0x0578
}


@pytest.fixture
def kms(workspace: Path) -> LocalKms:
    return LocalKms.open(workspace)


@pytest.fixture
def wrapping_key() -> bytes:
    return os.urandom(32)


@pytest.fixture
def keyring(wrapping_key: bytes) -> RawAesKeyring:
    return RawAesKeyring("privml-test", "wrapping-key-1", wrapping_key)


def sdk_raw_master_key(namespace: str, name: str, key: bytes) -> RawMasterKey:
    return RawMasterKey(
        provider_id=namespace,
        key_id=name.encode(),
        wrapping_key=WrappingKey(
            wrapping_algorithm=WrappingAlgorithm.AES_256_GCM_IV12_TAG16_NO_PADDING,
            wrapping_key=key,
            wrapping_key_type=EncryptionKeyType.SYMMETRIC,
        ),
    )


@pytest.fixture
def sdk_master_key(wrapping_key: bytes) -> RawMasterKey:
    return sdk_raw_master_key("privml-test", "wrapping-key-1", wrapping_key)


@pytest.fixture(scope="session")
def sdk() -> aws_encryption_sdk.EncryptionSDKClient:
    return aws_encryption_sdk.EncryptionSDKClient(commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT)


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """moto's in-process AWS; yields a boto3 session in the test region."""
    import boto3
    from moto import mock_aws

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        yield boto3.Session(region_name=REGION)
