"""Encryption context: the string map bound to a message, serialized exactly as the AWS Encryption SDK
does (count, then length-prefixed UTF-8 key/value pairs sorted by key bytes; empty map → no bytes)."""

from __future__ import annotations

import struct
from collections.abc import Mapping

from privml.errors import IntegrityError, PrivmlError

RESERVED_PREFIX = "aws-crypto-"
PUBLIC_KEY_FIELD = "aws-crypto-public-key"
_MAX = 0xFFFF


def serialize_context(context: Mapping[str, str] | None) -> bytes:
    if not context:
        return b""
    pairs = []
    for key, value in context.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise PrivmlError("encryption context keys and values must be strings")
        pairs.append((key.encode("utf-8"), value.encode("utf-8")))
    pairs.sort(key=lambda kv: kv[0])
    out = bytearray(struct.pack(">H", len(pairs)))
    for key_b, value_b in pairs:
        if len(key_b) > _MAX or len(value_b) > _MAX:
            raise PrivmlError("an encryption context entry is too large")
        out += struct.pack(">H", len(key_b)) + key_b + struct.pack(">H", len(value_b)) + value_b
    if len(out) > _MAX:
        raise PrivmlError("the encryption context is too large")
    return bytes(out)


def parse_context(data: bytes) -> dict[str, str]:
    if not data:
        return {}
    try:
        (count,) = struct.unpack_from(">H", data, 0)
        pos = 2
        result: dict[str, str] = {}
        for _ in range(count):
            (klen,) = struct.unpack_from(">H", data, pos)
            key = data[pos + 2 : pos + 2 + klen]
            pos += 2 + klen
            (vlen,) = struct.unpack_from(">H", data, pos)
            value = data[pos + 2 : pos + 2 + vlen]
            pos += 2 + vlen
            if len(key) != klen or len(value) != vlen:
                raise struct.error("short")
            name = key.decode("utf-8")
            if name in result:
                raise PrivmlError("malformed message: duplicate encryption context key")
            result[name] = value.decode("utf-8")
    except (struct.error, UnicodeDecodeError) as exc:
        raise PrivmlError("malformed message: bad encryption context") from exc
    if pos != len(data):
        raise PrivmlError("malformed message: trailing bytes in encryption context")
    return result


def check_required(actual: Mapping[str, str], required: Mapping[str, str] | None) -> None:
    """Refuse a message whose context lacks or differs on any required pair. Names keys, not values."""
    for key, value in (required or {}).items():
        if key not in actual:
            raise IntegrityError(f"encryption context mismatch: required key {key!r} is missing")
        if actual[key] != value:
            raise IntegrityError(f"encryption context mismatch: key {key!r} has a different value")


def check_user_context(context: Mapping[str, str] | None) -> dict[str, str]:
    result = dict(context or {})
    for key in result:
        if key.startswith(RESERVED_PREFIX):
            raise PrivmlError(f"encryption context key {key!r} uses the reserved prefix {RESERVED_PREFIX!r}")
    return result


def parse_pairs(items: list[str] | None) -> dict[str, str]:
    """`k=v` strings from the command line → a context map."""
    result: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise PrivmlError(f"--context expects KEY=VALUE, got an item without '=' (key {key!r})")
        result[key] = value
    return result
