"""Raw AES-GCM key wrapping in the AWS Encryption SDK's raw AES keyring format.

The encrypted data key is AES-256-GCM(wrapping key, IV, data key, AAD = serialized encryption context)
as ciphertext || tag; the provider info is key name || tag length in bits (4 bytes) || IV length
(4 bytes) || IV. A message wrapped this way opens with the SDK's `RawMasterKey` (or raw AES keyring)
given the same namespace, key name and wrapping key, and the other way round.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Mapping

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from privml.crypto.context import serialize_context
from privml.crypto.kdf import hkdf_secret
from privml.crypto.keys import DataKey
from privml.errors import IntegrityError, KeyUnavailable, PrivmlError

_TAG_BITS = 128
_IV_LEN = 12
_SUFFIX = 8 + _IV_LEN


def wrap(
    wrapping_key: bytes, namespace: str, key_name: str, plaintext: bytes, context: Mapping[str, str]
) -> tuple[bytes, bytes]:
    """→ (provider info, encrypted data key)."""
    iv = os.urandom(_IV_LEN)
    encrypted = AESGCM(wrapping_key).encrypt(iv, plaintext, serialize_context(context))
    info = key_name.encode("utf-8") + struct.pack(">II", _TAG_BITS, _IV_LEN) + iv
    return info, encrypted


def key_name_of(key_info: bytes) -> str:
    """The key name inside a raw AES provider info field."""
    if len(key_info) <= _SUFFIX:
        raise PrivmlError("malformed message: raw AES key info too short")
    tag_bits, iv_len = struct.unpack_from(">II", key_info, len(key_info) - _SUFFIX)
    if tag_bits != _TAG_BITS or iv_len != _IV_LEN:
        raise PrivmlError("malformed message: unsupported raw AES tag or IV length")
    try:
        return key_info[:-_SUFFIX].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PrivmlError("malformed message: raw AES key name is not UTF-8") from exc


def unwrap(wrapping_key: bytes, key_info: bytes, encrypted: bytes, context: Mapping[str, str]) -> bytes:
    iv = key_info[-_IV_LEN:]
    try:
        return AESGCM(wrapping_key).decrypt(iv, encrypted, serialize_context(context))
    except InvalidTag:
        raise IntegrityError(
            "encrypted data key failed authentication (tampered, or wrong encryption context)"
        ) from None


class RawAesKeyring:
    """A KeyProvider holding one AES-256 wrapping key in memory, the SDK's raw AES keyring.

    For interoperability and for callers who manage their own wrapping key; privml's own data goes
    through LocalKms or AwsKms. derive_secret is HKDF-SHA256 of the wrapping key and the purpose.
    """

    def __init__(self, namespace: str, key_name: str, wrapping_key: bytes) -> None:
        if len(wrapping_key) != 32:
            raise PrivmlError("a raw AES wrapping key must be 32 bytes")
        if namespace.startswith("aws-kms"):
            raise PrivmlError("a raw keyring namespace must not start with 'aws-kms'")
        self.namespace = namespace
        self.key_name = key_name
        self._key = bytes(wrapping_key)

    def __repr__(self) -> str:
        return f"RawAesKeyring(namespace={self.namespace!r}, key_name={self.key_name!r})"

    def owns(self, data_key: DataKey) -> bool:
        if data_key.provider_id != self.namespace:
            return False
        try:
            return key_name_of(data_key.provider_info) == self.key_name
        except PrivmlError:
            return False

    def generate_data_key(self, key_id: str, context: Mapping[str, str], length: int = 32) -> DataKey:
        if key_id not in ("", self.key_name):
            raise KeyUnavailable(f"raw AES keyring holds key {self.key_name!r}, not {key_id!r}")
        plaintext = os.urandom(length)
        info, encrypted = wrap(self._key, self.namespace, self.key_name, plaintext, context)
        return DataKey(plaintext, encrypted, self.key_name, self.namespace, info)

    def decrypt_data_key(self, encrypted: DataKey, context: Mapping[str, str]) -> bytes:
        if not self.owns(encrypted):
            raise KeyUnavailable(f"data key belongs to provider {encrypted.provider_id!r}, not this raw AES keyring")
        return unwrap(self._key, encrypted.provider_info, encrypted.encrypted, context)

    def derive_secret(self, key_id: str, purpose: str, length: int = 32) -> bytes:
        return hkdf_secret(self._key, purpose, length)
