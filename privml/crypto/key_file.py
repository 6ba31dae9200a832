"""A key provider over a file of derived secrets: what a network-isolated job or endpoint reads.

An isolated SageMaker container cannot reach KMS and has no credentials, so the secrets that keyed
techniques derive (`derive_secret(key, purpose)`) are derived beforehand by the key-preparation step,
which may call KMS, and handed to the isolated container as a file (a ProcessingInput, or a model data
source beside the model). This module reads and writes that file. It never imports a service: the
writer is given a provider object, the reader only parses JSON.

The file holds, per master key (its resolved id and the references the policy used for it), the
secret of each purpose asked for, and nothing else: a job asking for a purpose the file lacks is
refused, naming the key and the purpose, never a secret. The file never holds master key material
and cannot wrap or unwrap data keys.

    {"format": "privml-derived-secrets/v1",
     "keys": {"<key id>": {"references": ["alias/..."],
                           "secrets": {"<purpose>": {"length": 32, "value": "<base64>"}}}}}
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from privml.crypto.keys import DataKey
from privml.errors import KeyUnavailable, PrivmlError

FORMAT = "privml-derived-secrets/v1"
FILE_ENV = "PRIVML_KEY_FILE"


@dataclass(frozen=True)
class SecretNeed:
    """One secret to derive: under the key the policy names as `reference`, for `purpose`."""

    reference: str
    purpose: str
    length: int


class FileKeyProvider:
    """KeyProvider over a derived-secrets file. Only `resolve` and `derive_secret` work."""

    def __init__(self, document: Mapping[str, Any], source: str = "key file") -> None:
        self._source = source
        self._keys: dict[str, dict[str, bytes]] = {}
        self._references: dict[str, str] = {}
        if not isinstance(document, Mapping) or document.get("format") != FORMAT:
            raise KeyUnavailable(f"{source}: not a privml derived-secrets file ({FORMAT})")
        keys = document.get("keys")
        if not isinstance(keys, Mapping):
            raise KeyUnavailable(f"{source}: no `keys` mapping")
        for key_id, entry in keys.items():
            secrets: dict[str, bytes] = {}
            for purpose, item in (entry.get("secrets") or {}).items():
                try:
                    value = base64.b64decode(item["value"], validate=True)
                except (KeyError, TypeError, binascii.Error):
                    raise KeyUnavailable(f"{source}: key {key_id!r}, purpose {purpose!r}: malformed secret") from None
                if len(value) != item.get("length"):
                    raise KeyUnavailable(f"{source}: key {key_id!r}, purpose {purpose!r}: wrong secret length")
                secrets[str(purpose)] = value
            self._keys[str(key_id)] = secrets
            for ref in entry.get("references") or []:
                self._references[str(ref)] = str(key_id)

    @classmethod
    def from_bytes(cls, data: bytes, source: str = "key file") -> FileKeyProvider:
        try:
            document = json.loads(data)
        except ValueError:
            raise KeyUnavailable(f"{source}: not JSON") from None
        return cls(document, source)

    @classmethod
    def open(cls, path: str | Path) -> FileKeyProvider:
        path = Path(path)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise KeyUnavailable(
                f"key file {path} is missing: keyed techniques in a network-isolated job read the secrets "
                "the key-preparation step derived (PrivML step PrepareKeys)"
            ) from None
        except OSError as exc:
            raise KeyUnavailable(f"key file {path}: cannot read it ({type(exc).__name__})") from None
        return cls.from_bytes(data, str(path))

    def __repr__(self) -> str:  # names the file and the purposes it covers, never a secret
        return f"FileKeyProvider({self._source!r}, keys={len(self._keys)})"

    def purposes(self) -> dict[str, list[str]]:
        """Key id → the purposes the file holds a secret for (no secret)."""
        return {key_id: sorted(secrets) for key_id, secrets in self._keys.items()}

    def resolve(self, ref: str) -> str:
        if ref in self._keys:
            return ref
        try:
            return self._references[ref]
        except KeyError:
            raise KeyUnavailable(
                f"{self._source}: no secrets for key {ref!r}; the key-preparation step derived secrets only for "
                "the keys the policy's keyed techniques name"
            ) from None

    def _name(self, key_id: str) -> str:
        refs = [r for r, k in self._references.items() if k == key_id]
        return refs[0] if refs else key_id

    def derive_secret(self, key_id: str, purpose: str, length: int = 32) -> bytes:
        secrets = self._keys.get(key_id)
        if secrets is None:
            secrets = self._keys.get(self._references.get(key_id, ""))
        if secrets is None:
            raise KeyUnavailable(f"{self._source}: no secrets for key {key_id!r}")
        secret = secrets.get(purpose)
        if secret is None:
            raise KeyUnavailable(
                f"{self._source}: key {self._name(key_id)!r} has no secret for purpose {purpose!r} "
                f"(it holds: {', '.join(sorted(secrets)) or 'none'})"
            )
        if len(secret) != length:
            raise KeyUnavailable(
                f"{self._source}: key {self._name(key_id)!r}, purpose {purpose!r}: the file holds "
                f"{len(secret)} bytes, {length} asked"
            )
        return secret

    def generate_data_key(self, key_id: str, context: Mapping[str, str], length: int = 32) -> DataKey:
        raise KeyUnavailable("the key file holds derived secrets only; it cannot make data keys")

    def decrypt_data_key(self, encrypted: DataKey, context: Mapping[str, str]) -> bytes:
        raise KeyUnavailable("the key file holds derived secrets only; it cannot open data keys")


def derive_key_file(provider: Any, needs: Iterable[SecretNeed]) -> bytes:
    """The derived-secrets file for `needs`, derived through `provider` (any KeyProvider with `resolve`).

    Each reference is resolved once; secrets are grouped under the resolved key id, so two references
    to the same key share their secrets, as derive_secret would give them."""
    keys: dict[str, dict[str, Any]] = {}
    resolved: dict[str, str] = {}
    for need in needs:
        if need.reference not in resolved:
            resolve = getattr(provider, "resolve", None)
            resolved[need.reference] = str(resolve(need.reference)) if resolve else need.reference
        key_id = resolved[need.reference]
        entry = keys.setdefault(key_id, {"references": [], "secrets": {}})
        if need.reference not in entry["references"]:
            entry["references"].append(need.reference)
        known = entry["secrets"].get(need.purpose)
        if known is not None and known["length"] != need.length:
            raise PrivmlError(f"purpose {need.purpose!r} of key {need.reference!r} asked with two lengths")
        if known is None:
            secret = provider.derive_secret(key_id, need.purpose, need.length)
            entry["secrets"][need.purpose] = {"length": need.length, "value": base64.b64encode(secret).decode()}
    return (json.dumps({"format": FORMAT, "keys": keys}, sort_keys=True) + "\n").encode()
