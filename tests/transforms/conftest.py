from __future__ import annotations

import hashlib
import hmac

import pytest


class StaticKeys:
    """A key provider with fixed key material per id, for technique tests that need two distinct keys."""

    def __init__(self, **keys: bytes) -> None:
        self.keys = keys

    def resolve(self, ref: str) -> str:
        return ref.removeprefix("alias/")

    def derive_secret(self, key_id: str, purpose: str, length: int = 32) -> bytes:
        out = b""
        counter = 0
        while len(out) < length:
            out += hmac.new(self.keys[key_id], f"{purpose}/{counter}".encode(), hashlib.sha256).digest()
            counter += 1
        return out[:length]


@pytest.fixture(scope="session")
def keys() -> StaticKeys:
    return StaticKeys(a=b"A" * 32, b=b"B" * 32)
