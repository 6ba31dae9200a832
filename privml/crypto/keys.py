"""The key provider interface: one contract, a local KMS and AWS KMS behind it.

Callers never see master key material. They get data keys (plaintext + the encrypted copy to store
beside the data) and, for keyed transforms (tokenize, encrypt, pseudonymize, date shift), a secret
derived deterministically from a master key and a purpose string, so that the same key and purpose
always give the same secret and the fitted transformer only stores the key's id.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class DataKey:
    plaintext: bytes = b""
    encrypted: bytes = b""
    key_id: str = ""  # the full id/ARN of the master key that wrapped it
    provider_id: str = ""  # AWS Encryption SDK provider id: "aws-kms" or the raw keyring's namespace
    # The SDK's provider-info field as written in the message header. Empty means key_id's UTF-8 bytes
    # (that is what the KMS keyring writes); a raw AES keyring writes name + tag/IV lengths + IV.
    key_info: bytes = b""

    def __repr__(self) -> str:  # never print key material
        return f"DataKey(key_id={self.key_id!r}, provider_id={self.provider_id!r})"

    @property
    def provider_info(self) -> bytes:
        return self.key_info or self.key_id.encode("utf-8")


@runtime_checkable
class KeyProvider(Protocol):
    def generate_data_key(self, key_id: str, context: Mapping[str, str], length: int = 32) -> DataKey: ...

    def decrypt_data_key(self, encrypted: DataKey, context: Mapping[str, str]) -> bytes: ...

    def derive_secret(self, key_id: str, purpose: str, length: int = 32) -> bytes:
        """A deterministic secret for `purpose` under the master key `key_id`."""
        ...


def owns(provider: object, data_key: DataKey) -> bool:
    """Whether `provider` claims `data_key` (providers without an `owns` method are asked anyway)."""
    check = getattr(provider, "owns", None)
    return True if check is None else bool(check(data_key))
