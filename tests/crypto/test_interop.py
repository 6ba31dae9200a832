"""Both directions against the aws-encryption-sdk package: both suites, raw AES and KMS (moto),
several frame sizes, empty, single- and multi-frame messages (including exact frame multiples)."""

from __future__ import annotations

import base64
import json
import os
from typing import Any

import aws_encryption_sdk
import pytest

from privml.crypto import envelope
from privml.crypto.aws_kms import AwsKms
from privml.crypto.local_kms import LocalKms
from privml.crypto.raw_aes import RawAesKeyring

from .conftest import REGION, SUITES, sdk_raw_master_key

FRAMES = [128, 4096, 12800, 1 << 20]  # the SDK encrypts only with multiples of 128 bytes


def _sizes(frame: int) -> list[int]:
    return sorted({0, 1, frame - 1, frame, frame + 1, 3 * frame, 3 * frame + 7})


CASES = [
    (signed, frame, size)
    for signed in (False, True)
    for frame in FRAMES
    for size in _sizes(frame)
    if size <= 3 * (1 << 20)
]


@pytest.mark.parametrize(("signed", "frame", "size"), CASES)
def test_raw_aes_both_directions(
    signed: bool, frame: int, size: int, keyring: RawAesKeyring, sdk_master_key: Any, sdk: Any
) -> None:
    plaintext = os.urandom(size)
    context = {"dataset": "adult", "stage": "train"}

    ours = envelope.encrypt(
        plaintext, provider=keyring, key_id="wrapping-key-1", context=context, signed=signed, frame_length=frame
    )
    decrypted, header = sdk.decrypt(source=ours, key_provider=sdk_master_key)
    assert decrypted == plaintext
    assert header.algorithm == SUITES[signed] and header.frame_length == frame
    assert {k: v for k, v in header.encryption_context.items() if not k.startswith("aws-crypto-")} == context

    theirs, _ = sdk.encrypt(
        source=plaintext,
        key_provider=sdk_master_key,
        encryption_context=context,
        algorithm=SUITES[signed],
        frame_length=frame,
    )
    assert envelope.decrypt(theirs, provider=keyring, required_context=context) == plaintext
    if not signed:  # same layout, byte for byte, apart from random ids, IVs and keys
        assert len(theirs) == len(ours)


@pytest.mark.parametrize("signed", [False, True])
def test_files_both_directions(signed: bool, keyring: RawAesKeyring, sdk_master_key: Any, sdk: Any, tmp_path) -> None:
    plaintext = os.urandom(300_000)
    src, enc, out = tmp_path / "plain", tmp_path / "enc", tmp_path / "out"
    src.write_bytes(plaintext)
    envelope.encrypt_file(src, enc, provider=keyring, key_id="wrapping-key-1", signed=signed, frame_length=65536)
    with (
        open(enc, "rb") as fin,
        open(out, "wb") as fout,
        sdk.stream(mode="d", source=fin, key_provider=sdk_master_key) as stream,
    ):
        for chunk in stream:
            fout.write(chunk)
    assert out.read_bytes() == plaintext

    with (
        open(src, "rb") as fin,
        open(enc, "wb") as fout,
        sdk.stream(
            mode="e", source=fin, key_provider=sdk_master_key, frame_length=65536, algorithm=SUITES[signed]
        ) as stream,
    ):
        for chunk in stream:
            fout.write(chunk)
    out.unlink()
    envelope.decrypt_file(enc, out, provider=keyring)
    assert out.read_bytes() == plaintext


def test_local_kms_messages_open_with_the_sdk_raw_keyring(kms: LocalKms, sdk: Any) -> None:
    """The local KMS writes the raw AES keyring format: given the material, the SDK opens it."""
    key_id = kms.create_key()
    message = envelope.encrypt(b"x" * 5000, provider=kms, key_id=key_id, context={"a": "b"}, frame_length=1024)
    material = base64.b64decode(json.loads(kms.path.read_text())["keys"][key_id]["versions"][0]["material"])
    master = sdk_raw_master_key("privml-local-kms", f"local:kms:key/{key_id}:v1", material)
    assert sdk.decrypt(source=message, key_provider=master)[0] == b"x" * 5000


@pytest.mark.parametrize("signed", [False, True])
@pytest.mark.parametrize(("frame", "size"), [(4096, 0), (4096, 4096), (1024, 10_000)])
def test_kms_keyring_both_directions(aws: Any, sdk: Any, signed: bool, frame: int, size: int) -> None:
    client = aws.client("kms", region_name=REGION)
    arn = client.create_key()["KeyMetadata"]["Arn"]
    provider = AwsKms(client)
    master = aws_encryption_sdk.StrictAwsKmsMasterKeyProvider(key_ids=[arn])
    plaintext = os.urandom(size)

    ours = envelope.encrypt(
        plaintext, provider=provider, key_id=arn, context={"k": "v"}, signed=signed, frame_length=frame
    )
    decrypted, header = sdk.decrypt(source=ours, key_provider=master)
    assert decrypted == plaintext
    assert [k.key_provider.key_info for k in header.encrypted_data_keys] == [arn.encode()]

    theirs, _ = sdk.encrypt(
        source=plaintext,
        key_provider=master,
        encryption_context={"k": "v"},
        algorithm=SUITES[signed],
        frame_length=frame,
    )
    assert envelope.decrypt(theirs, provider=provider, required_context={"k": "v"}) == plaintext
    assert envelope.read_header(theirs).key_ids == [arn]


def test_kms_errors_and_derive_secret(aws: Any) -> None:
    client = aws.client("kms", region_name=REGION)
    provider = AwsKms(client)
    arn = client.create_key()["KeyMetadata"]["Arn"]
    message = envelope.encrypt(b"data", provider=provider, key_id=arn)
    # moto does not refuse disabled keys, so KMS's answers are stubbed to test their translation.
    from botocore.stub import Stubber

    from privml.errors import KeyUnavailable

    for code, expected in (("DisabledException", "disabled"), ("KMSInvalidStateException", "pending deletion")):
        with Stubber(client) as stub:
            stub.add_client_error("decrypt", service_error_code=code)
            with pytest.raises(KeyUnavailable, match=expected):
                envelope.decrypt(message, provider=provider)
    with pytest.raises(KeyUnavailable, match="not found"):
        provider.generate_data_key("alias/missing", {})
    with pytest.raises(KeyUnavailable, match="HMAC key"):
        provider.derive_secret(client.create_key()["KeyMetadata"]["Arn"], "tokenize")
    hmac_key = client.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]["KeyId"]
    secret = provider.derive_secret(hmac_key, "tokenize:email")
    assert secret == provider.derive_secret(hmac_key, "tokenize:email") and len(secret) == 32
    assert provider.derive_secret(hmac_key, "tokenize:phone") != secret
    assert len(provider.derive_secret(hmac_key, "tokenize:email", 48)) == 48
