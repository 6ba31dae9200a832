"""Secret derivation: HKDF-SHA256 of a key's material and a purpose (a primitive).

The local KMS derives the secrets of keyed transforms from its master keys' first material, and the raw
AES keyring from its wrapping key; both call this, so the same material and purpose give the same secret
whichever provider holds it. The salt and the info prefix are part of the derived values: changing either
changes every secret derived before.
"""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from privml.errors import PrivmlError

_DERIVE_SALT = b"privml/local-kms/derive-secret"  # named after the first user; kept so old secrets stay valid
_INFO_PREFIX = b"privml derive_secret v1\x00"


def hkdf_secret(material: bytes, purpose: str, length: int) -> bytes:
    """`length` bytes derived from `material` for `purpose` (a non-empty label such as a column's key use)."""
    if not purpose:
        raise PrivmlError("derive_secret needs a non-empty purpose")
    if not 16 <= length <= 255 * 32:
        raise PrivmlError("derive_secret length must be between 16 and 8160 bytes")
    info = _INFO_PREFIX + purpose.encode("utf-8")
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=_DERIVE_SALT, info=info).derive(material)
