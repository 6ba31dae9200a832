"""AWS KMS as a key provider, through a boto3 KMS client.

Data keys are KMS GenerateDataKey / Decrypt with the message's encryption context, recorded in the
message as the AWS Encryption SDK's KMS keyring does (provider id `aws-kms`, provider info = key ARN),
so the SDK's KMS keyring opens privml messages and the other way round.

derive_secret uses KMS GenerateMac (HMAC-SHA-256) over "privml derive_secret v1\\0" + purpose, so the
key must be an HMAC KMS key (KeySpec HMAC_256, KeyUsage GENERATE_VERIFY_MAC): KMS never reveals key
material and its encryption is randomized, so an encryption key cannot give a deterministic secret.
KMS HMAC keys are not rotated automatically, so the secret is stable.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

from privml.crypto.keys import DataKey
from privml.errors import IntegrityError, KeyUnavailable, PrivmlError

PROVIDER_ID = "aws-kms"
_DERIVE_PREFIX = b"privml derive_secret v1\x00"


def _translate(exc: Exception, key_id: str) -> PrivmlError:
    """A botocore ClientError → a privml error naming the key, never material."""
    code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
    if code == "NotFoundException":
        return KeyUnavailable(f"KMS key {key_id!r} not found")
    if code == "DisabledException":
        return KeyUnavailable(f"KMS key {key_id!r} is disabled")
    if code == "KMSInvalidStateException":
        return KeyUnavailable(f"KMS key {key_id!r} cannot be used in its current state (pending deletion?)")
    if code in ("AccessDeniedException", "IncorrectKeyException"):
        return KeyUnavailable(f"KMS refused key {key_id!r}: {code}")
    if code == "InvalidCiphertextException":
        return IntegrityError(f"KMS could not decrypt the data key under {key_id!r}: tampered or wrong context")
    if code in ("InvalidKeyUsageException", "UnsupportedOperationException"):
        return KeyUnavailable(
            f"KMS key {key_id!r} does not support this operation ({code}); derive_secret needs an HMAC key "
            "(KeySpec HMAC_256, KeyUsage GENERATE_VERIFY_MAC)"
        )
    return KeyUnavailable(f"KMS request for key {key_id!r} failed: {code or type(exc).__name__}")


class AwsKms:
    """KeyProvider over AWS KMS. `kms_client` is a boto3 KMS client (region/credentials its business)."""

    def __init__(self, kms_client: Any) -> None:
        self._kms = kms_client
        from botocore.exceptions import BotoCoreError, ClientError

        self._errors: tuple[type[Exception], ...] = (ClientError, BotoCoreError)

    def __repr__(self) -> str:
        return f"AwsKms(region={getattr(self._kms.meta, 'region_name', None)!r})"

    def owns(self, data_key: DataKey) -> bool:
        return data_key.provider_id == PROVIDER_ID

    def resolve(self, ref: str) -> str:
        """Key id, ARN, alias/NAME or alias ARN → the key's ARN."""
        try:
            return self._kms.describe_key(KeyId=ref)["KeyMetadata"]["Arn"]
        except self._errors as exc:
            raise _translate(exc, ref) from None

    def generate_data_key(self, key_id: str, context: Mapping[str, str], length: int = 32) -> DataKey:
        try:
            resp = self._kms.generate_data_key(KeyId=key_id, NumberOfBytes=length, EncryptionContext=dict(context))
        except self._errors as exc:
            raise _translate(exc, key_id) from None
        return DataKey(resp["Plaintext"], resp["CiphertextBlob"], resp["KeyId"], PROVIDER_ID)

    def decrypt_data_key(self, encrypted: DataKey, context: Mapping[str, str]) -> bytes:
        if not self.owns(encrypted):
            raise KeyUnavailable(f"data key belongs to provider {encrypted.provider_id!r}, not AWS KMS")
        key_id = encrypted.key_id or encrypted.provider_info.decode("utf-8", "replace")
        try:
            resp = self._kms.decrypt(CiphertextBlob=encrypted.encrypted, EncryptionContext=dict(context), KeyId=key_id)
        except self._errors as exc:
            raise _translate(exc, key_id) from None
        if resp.get("KeyId") != key_id:  # the SDK's strict keyring rule: the ARN in the message must match
            raise IntegrityError(f"KMS decrypted the data key with a different key than {key_id!r}")
        return resp["Plaintext"]

    def rewrap(self, data_key: DataKey, context: Mapping[str, str], destination_key: str | None = None) -> DataKey:
        """KMS ReEncrypt: move a wrapped data key to `destination_key` (default: the same key, whose
        current material KMS uses after rotation) without exposing it."""
        target = destination_key or data_key.key_id
        try:
            resp = self._kms.re_encrypt(
                CiphertextBlob=data_key.encrypted,
                SourceEncryptionContext=dict(context),
                SourceKeyId=data_key.key_id,
                DestinationKeyId=target,
                DestinationEncryptionContext=dict(context),
            )
        except self._errors as exc:
            raise _translate(exc, target) from None
        return DataKey(b"", resp["CiphertextBlob"], resp["KeyId"], PROVIDER_ID)

    def derive_secret(self, key_id: str, purpose: str, length: int = 32) -> bytes:
        if not purpose:
            raise PrivmlError("derive_secret needs a non-empty purpose")
        if not 16 <= length <= 255 * 32:
            raise PrivmlError("derive_secret length must be between 16 and 8160 bytes")
        try:
            resp = self._kms.generate_mac(
                KeyId=key_id, Message=_DERIVE_PREFIX + purpose.encode("utf-8"), MacAlgorithm="HMAC_SHA_256"
            )
        except self._errors as exc:
            raise _translate(exc, key_id) from None
        mac = resp["Mac"]
        if length == len(mac):
            return mac
        return HKDFExpand(algorithm=hashes.SHA256(), length=length, info=purpose.encode("utf-8")).derive(mac)
