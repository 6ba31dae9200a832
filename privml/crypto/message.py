"""The AWS Encryption SDK message format, version 2, committing suites, framed content.

    header  = version 0x02 | suite id (2) | message id (32) | context length (2) | context
              | EDK count (2) | EDKs (provider id, provider info, ciphertext; each 2-byte length-prefixed)
              | content type 0x02 (framed) | frame length (4) | commitment key (32)
    auth    = AES-GCM tag (16) over the header, IV = 12 zero bytes, empty plaintext
    frame   = sequence number (4) | IV (12) | ciphertext (frame length) | tag (16)
    final   = 0xFFFFFFFF | sequence number (4) | IV (12) | content length (4) | ciphertext | tag (16)
    footer  = (signed suites only) signature length (2) | ECDSA P-384 DER signature over SHA-384 of
              everything before it

Keys (HKDF-SHA512, salt = message id): data encryption key with info = suite id || "DERIVEKEY",
commitment key with info = "COMMITKEY". Frame IV = 8 zero bytes || sequence number; frame AAD =
message id || "AWSKMSEncryptionClient Frame" (or "... Final Frame") || sequence number (4) ||
content length (8). All integers are big-endian. Source of truth: the SDK specification
(data-format/message-header.md, message-body.md, framework/algorithm-suites.md) and the Python SDK's
internal/formatting and internal/crypto modules.
"""

from __future__ import annotations

import hmac
import struct
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from privml.crypto.context import parse_context
from privml.crypto.keys import DataKey
from privml.errors import IntegrityError, PrivmlError

VERSION = 0x02
SUITE_COMMITTING = 0x0478  # AES-256-GCM, HKDF-SHA512, key commitment
SUITE_COMMITTING_SIGNED = 0x0578  # ... plus ECDSA P-384 / SHA-384 signature
SUITES = {SUITE_COMMITTING: False, SUITE_COMMITTING_SIGNED: True}  # suite id → signed
CONTENT_FRAMED = 0x02
FINAL_MARKER = 0xFFFFFFFF
MESSAGE_ID_LEN = 32
COMMITMENT_LEN = 32
DATA_KEY_LEN = 32
TAG_LEN = 16
IV_LEN = 12
MAX_FRAME_LENGTH = (1 << 31) - 1
MAX_FRAMES = 0xFFFFFFFF - 1
FRAME_AAD = b"AWSKMSEncryptionClient Frame"
FINAL_AAD = b"AWSKMSEncryptionClient Final Frame"
REGULAR_OVERHEAD = 4 + IV_LEN + TAG_LEN  # per regular frame
FINAL_OVERHEAD = 4 + 4 + IV_LEN + 4 + TAG_LEN


def derive_keys(data_key: bytes, suite_id: int, message_id: bytes) -> tuple[bytes, bytes]:
    """(data encryption key, commitment key) for a committing suite."""
    if len(data_key) != DATA_KEY_LEN:
        raise IntegrityError("decrypted data key has the wrong length")
    enc = HKDF(
        algorithm=hashes.SHA512(), length=32, salt=message_id, info=struct.pack(">H", suite_id) + b"DERIVEKEY"
    ).derive(data_key)
    commit = HKDF(algorithm=hashes.SHA512(), length=COMMITMENT_LEN, salt=message_id, info=b"COMMITKEY").derive(data_key)
    return enc, commit


def commitment_matches(expected: bytes, actual: bytes) -> bool:
    return hmac.compare_digest(expected, actual)


def frame_iv(seq: int) -> bytes:
    return b"\x00" * 8 + struct.pack(">I", seq)


def frame_aad(message_id: bytes, final: bool, seq: int, length: int) -> bytes:
    return message_id + (FINAL_AAD if final else FRAME_AAD) + struct.pack(">IQ", seq, length)


def _field(data: bytes) -> bytes:
    if len(data) > 0xFFFF:
        raise PrivmlError("a message header field is longer than 65535 bytes")
    return struct.pack(">H", len(data)) + data


def serialize_header(
    suite_id: int,
    message_id: bytes,
    context_bytes: bytes,
    data_keys: list[DataKey],
    frame_length: int,
    commitment: bytes,
) -> bytes:
    if not 0 < len(data_keys) <= 0xFFFF:
        raise PrivmlError("a message needs at least one encrypted data key")
    out = bytearray(struct.pack(">BH", VERSION, suite_id) + message_id + _field(context_bytes))
    out += struct.pack(">H", len(data_keys))
    for dk in data_keys:
        out += _field(dk.provider_id.encode("utf-8")) + _field(dk.provider_info) + _field(dk.encrypted)
    out += struct.pack(">BI", CONTENT_FRAMED, frame_length) + commitment
    return bytes(out)


@dataclass
class Header:
    suite_id: int
    message_id: bytes
    context: dict[str, str]
    data_keys: list[DataKey]
    frame_length: int
    commitment: bytes
    raw: bytes = b""  # the serialized header, exactly as read (the header auth tag's AAD)
    auth_tag: bytes = b""
    key_ids: list[str] = field(default_factory=list)
    context_raw: bytes = b""

    @property
    def signed(self) -> bool:
        return SUITES[self.suite_id]


class ByteSource:
    """What the header parser reads from: `read(n)` returns exactly n bytes or raises."""

    def read(self, n: int) -> bytes:  # pragma: no cover - interface
        raise NotImplementedError


def _edk_key_id(provider_id: str, info: bytes) -> str:
    if provider_id.startswith("aws-kms"):
        return info.decode("utf-8", "replace")
    from privml.crypto.raw_aes import key_name_of

    try:
        name = key_name_of(info)
    except PrivmlError:
        return ""
    from privml.crypto.key_names import NAMESPACE, master_key_id_of

    return master_key_id_of(name) if provider_id == NAMESPACE else name


def parse_header(src: ByteSource) -> Header:
    """Read and structurally check a header and its auth tag (the tag is verified later, with the key;
    limits such as the frame length are checked after that, so that tampering reads as tampering)."""
    raw = bytearray()

    def take(n: int) -> bytes:
        chunk = src.read(n)
        raw.extend(chunk)
        return chunk

    try:
        first = take(1)
    except IntegrityError:
        raise PrivmlError("input is empty, not an encrypted privml message") from None
    if first[0] == 0x01:
        raise PrivmlError("input is a version 1 AWS Encryption SDK message; privml reads version 2 only")
    if first[0] != VERSION:
        raise PrivmlError("input is not an encrypted privml message (AWS Encryption SDK format v2)")
    (suite_id,) = struct.unpack(">H", take(2))
    if suite_id not in SUITES:
        raise PrivmlError(f"unsupported algorithm suite 0x{suite_id:04X} (supported: 0x0478, 0x0578)")
    message_id = take(MESSAGE_ID_LEN)
    (ctx_len,) = struct.unpack(">H", take(2))
    context_raw = take(ctx_len)
    try:
        context = parse_context(context_raw)
    except PrivmlError as exc:
        raise IntegrityError(f"message header is malformed: {exc}") from None
    (count,) = struct.unpack(">H", take(2))
    if count == 0:
        raise IntegrityError("message header is malformed: no encrypted data keys")
    data_keys: list[DataKey] = []
    key_ids: list[str] = []
    for _ in range(count):
        parts = []
        for _part in range(3):
            (n,) = struct.unpack(">H", take(2))
            parts.append(take(n))
        try:
            provider_id = parts[0].decode("utf-8")
        except UnicodeDecodeError:
            raise IntegrityError("message header is malformed: provider id is not UTF-8") from None
        key_id = _edk_key_id(provider_id, parts[1])
        key_ids.append(key_id)
        data_keys.append(DataKey(b"", parts[2], key_id, provider_id, parts[1]))
    content_type, frame_length = struct.unpack(">BI", take(5))
    if content_type != CONTENT_FRAMED:
        raise IntegrityError("message is not framed (non-framed messages are not supported)")
    if not 0 < frame_length <= MAX_FRAME_LENGTH:
        raise IntegrityError("message header is malformed: bad frame length")
    commitment = take(COMMITMENT_LEN)
    auth_tag = src.read(TAG_LEN)
    return Header(
        suite_id,
        message_id,
        context,
        data_keys,
        frame_length,
        commitment,
        bytes(raw),
        auth_tag,
        key_ids,
        context_raw,
    )
