"""A local KMS: master keys in a key store file under the workspace, with KMS semantics.

Keys have a UUID id, an ARN-like form `local:kms:key/<id>`, and aliases `alias/NAME`
(`local:kms:alias/NAME`). GenerateDataKey / Decrypt bind the encryption context (it is the AAD of the
wrapped data key). Rotation adds key material; older material stays to open older data keys, and
`rewrap` moves a data key to the newest material (KMS ReEncrypt) without touching the data.
Disable/enable block and unblock use; scheduled deletion blocks use at once and, when the date passes,
destroys the material: data under the key becomes unrecoverable (crypto-shredding).

Wrapped data keys use the AWS Encryption SDK raw AES keyring format with namespace `privml-local-kms`
and key name `local:kms:key/<id>:v<N>`: the SDK's RawMasterKey opens them given the material.

derive_secret(key, purpose) = HKDF-SHA256 over the key's *first* material version, so secrets that
keyed transforms derived stay the same after rotation. Material never leaves this module and is never
logged; errors name key ids, never material.
"""

from __future__ import annotations

import logging
import os
import re
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from privml.crypto import raw_aes
from privml.crypto.kdf import hkdf_secret
from privml.crypto.key_names import ARN_PREFIX, NAMESPACE, key_arn, wrapping_key_name
from privml.crypto.key_names import WRAPPING_KEY_NAME as _NAME_RE
from privml.crypto.keys import DataKey
from privml.crypto.keystore import PASSPHRASE_ENV, KeyStoreFile, b64d, b64e, empty_store
from privml.errors import KeyUnavailable, PrivmlError
from privml.workspace import workspace_dir

log = logging.getLogger("privml.kms")

ENABLED, DISABLED, PENDING, DELETED = "Enabled", "Disabled", "PendingDeletion", "Deleted"
_ALIAS_RE = re.compile(r"^[A-Za-z0-9/_-]{1,250}$")


def _now() -> datetime:
    return datetime.now(UTC)


def _alias_name(name: str) -> str:
    name = name.removeprefix(ARN_PREFIX)
    full = name if name.startswith("alias/") else f"alias/{name}"
    if not _ALIAS_RE.match(full.removeprefix("alias/")) or full.startswith("alias/aws/"):
        raise PrivmlError(f"invalid alias {name!r}: use letters, digits, '/', '_' or '-'")
    return full


class LocalKms:
    """The local key provider. Create with `LocalKms.open(workspace, passphrase)`."""

    def __init__(self, store_file: KeyStoreFile) -> None:
        self._file = store_file
        self._store: dict[str, Any] = empty_store()
        self._sig: tuple[int, int, int] | None = None

    # -- opening -----------------------------------------------------------------------------------
    @classmethod
    def open(cls, workspace: Path | None = None, passphrase: str | None = None) -> LocalKms:
        path = workspace_dir(workspace) / "kms" / "keystore.json"
        if passphrase is None:
            passphrase = os.environ.get(PASSPHRASE_ENV) or None
        kms = cls(KeyStoreFile(path, passphrase))
        with kms._file.locked():
            if kms._file.exists():
                kms._reload(force=True)
            else:
                kms._file.save(empty_store())
                kms._sig = kms._file.signature()
        return kms

    @property
    def path(self) -> Path:
        return self._file.path

    def __repr__(self) -> str:
        return f"LocalKms({str(self.path)!r})"

    def _reload(self, force: bool = False) -> None:
        sig = self._file.signature()
        if sig is None:
            raise KeyUnavailable(f"key store {self._file.path} is missing")
        if force or sig != self._sig:
            self._store = self._file.load()
            self._sig = sig

    def _mutate(self) -> _Mutation:
        return _Mutation(self)

    def _fresh(self) -> dict[str, Any]:
        """The current store, with keys whose deletion date has passed destroyed."""
        self._reload()
        if any(self._due(rec) for rec in self._store["keys"].values()):
            with self._mutate() as store:
                pass  # _Mutation.__enter__ shreds due keys
            return store
        return self._store

    @staticmethod
    def _due(rec: dict[str, Any]) -> bool:
        return rec["state"] == PENDING and datetime.fromisoformat(rec["deletion_date"]) <= _now()

    # -- naming ------------------------------------------------------------------------------------
    def resolve(self, ref: str) -> str:
        store = self._fresh()
        ref = ref.strip()
        if ref.startswith(f"{ARN_PREFIX}key/"):
            candidate = ref.removeprefix(f"{ARN_PREFIX}key/")
        elif ref.startswith(("alias/", f"{ARN_PREFIX}alias/")) or ref not in store["keys"]:
            try:
                candidate = store["aliases"].get(_alias_name(ref), "")
            except PrivmlError:
                candidate = ""
        else:
            candidate = ref
        if candidate not in store["keys"]:
            raise KeyUnavailable(f"unknown key {ref!r} (see `privml keys list`)")
        return candidate

    def key_arn(self, ref: str) -> str:
        return key_arn(self.resolve(ref))

    # -- management --------------------------------------------------------------------------------
    def create_key(self, alias: str | None = None, description: str = "") -> str:
        full_alias = _alias_name(alias) if alias else None
        with self._mutate() as store:
            if full_alias and full_alias in store["aliases"]:
                raise PrivmlError(f"alias {full_alias!r} already exists")
            key_id = _new_key(store, full_alias, description)
        log.info("created key %s%s", key_id, f" ({full_alias})" if full_alias else "")
        return key_id

    def ensure_key(self, alias: str) -> str:
        full_alias = _alias_name(alias)
        existing = self._fresh()["aliases"].get(full_alias)
        if existing:
            return existing
        with self._mutate() as store:  # re-check under the lock: another process may have won
            key_id = store["aliases"].get(full_alias) or _new_key(
                store, full_alias, f"created by ensure_key({full_alias})"
            )
        return key_id

    def list_keys(self) -> list[dict[str, Any]]:
        store = self._fresh()
        aliases: dict[str, list[str]] = {}
        for name, kid in store["aliases"].items():
            aliases.setdefault(kid, []).append(name)
        return [
            {
                "key_id": kid,
                "arn": key_arn(kid),
                "aliases": sorted(aliases.get(kid, [])),
                "state": rec["state"],
                "description": rec["description"],
                "created": rec["created"],
                "material_versions": len(rec["versions"]),
                "deletion_date": rec["deletion_date"],
            }
            for kid, rec in sorted(store["keys"].items(), key=lambda kv: kv[1]["created"])
        ]

    def describe(self, ref: str) -> dict[str, Any]:
        kid = self.resolve(ref)
        return next(k for k in self.list_keys() if k["key_id"] == kid)

    def rotate(self, ref: str) -> int:
        """New key material; returns its version. Old versions still open old data keys."""
        kid = self.resolve(ref)
        with self._mutate() as store:
            rec = self._usable(store, kid)
            version = rec["versions"][-1]["version"] + 1
            rec["versions"].append(
                {"version": version, "created": _now().isoformat(), "material": b64e(os.urandom(32))}
            )
        log.info("rotated key %s to material version %d", kid, version)
        return version

    def rewrap(self, data_key: DataKey, context: Mapping[str, str], destination_key: str | None = None) -> DataKey:
        """KMS ReEncrypt: open a wrapped data key and wrap it again under the newest material of
        `destination_key` (default: the same key). The data the key protects is not touched."""
        plaintext = self.decrypt_data_key(data_key, context)
        target = destination_key or data_key.key_id
        fresh = self._wrap(self.resolve(target), plaintext, context)
        return DataKey(b"", fresh.encrypted, fresh.key_id, fresh.provider_id, fresh.key_info)

    def disable(self, ref: str) -> None:
        self._set_state(ref, DISABLED, allowed=(ENABLED, DISABLED))

    def enable(self, ref: str) -> None:
        self._set_state(ref, ENABLED, allowed=(ENABLED, DISABLED))

    def cancel_deletion(self, ref: str) -> None:
        """Like KMS: a key whose deletion is cancelled comes back disabled."""
        self._set_state(ref, DISABLED, allowed=(PENDING,))

    def schedule_deletion(self, ref: str, days: int = 7) -> str:
        """Block the key now; destroy its material after `days` (0 = at once). Returns the date."""
        if not 0 <= days <= 30:
            raise PrivmlError("deletion waiting period must be between 0 and 30 days")
        kid = self.resolve(ref)
        when = _now() + timedelta(days=days)
        with self._mutate() as store:
            rec = store["keys"][kid]
            if rec["state"] == DELETED:
                raise KeyUnavailable(f"key {kid} is already deleted")
            rec["state"], rec["deletion_date"] = PENDING, when.isoformat()
            if days == 0:
                _shred(rec)
        log.info("key %s scheduled for deletion at %s", kid, when.isoformat())
        return when.isoformat()

    def set_passphrase(self, passphrase: str | None) -> None:
        """Seal the key store under a new passphrase (None removes the protection)."""
        with self._file.locked():
            self._reload(force=True)
            self._file.change_passphrase(passphrase)
            self._file.save(self._store)
            self._sig = self._file.signature()

    def _set_state(self, ref: str, state: str, allowed: tuple[str, ...]) -> None:
        kid = self.resolve(ref)
        with self._mutate() as store:
            rec = store["keys"][kid]
            if rec["state"] not in allowed:
                raise KeyUnavailable(f"key {kid} is {rec['state']}; cannot make it {state}")
            rec["state"], rec["deletion_date"] = state, None
        log.info("key %s is now %s", kid, state)

    # -- KeyProvider ---------------------------------------------------------------------------------
    def owns(self, data_key: DataKey) -> bool:
        return data_key.provider_id == NAMESPACE

    def generate_data_key(self, key_id: str, context: Mapping[str, str], length: int = 32) -> DataKey:
        if not 16 <= length <= 64:
            raise PrivmlError("data key length must be between 16 and 64 bytes")
        return self._wrap(self.resolve(key_id), os.urandom(length), context)

    def decrypt_data_key(self, encrypted: DataKey, context: Mapping[str, str]) -> bytes:
        if not self.owns(encrypted):
            raise KeyUnavailable(f"data key belongs to provider {encrypted.provider_id!r}, not the local KMS")
        name = raw_aes.key_name_of(encrypted.provider_info)
        match = _NAME_RE.match(name)
        if not match:
            raise PrivmlError("malformed message: local KMS key name not recognised")
        kid, version = match.group(1), int(match.group(2))
        store = self._fresh()
        if kid not in store["keys"]:
            raise KeyUnavailable(f"data key was wrapped by key {kid}, which is not in this key store")
        rec = self._usable(store, kid)
        material = next((v["material"] for v in rec["versions"] if v["version"] == version), None)
        if material is None:
            raise KeyUnavailable(f"key {kid} has no material version {version}")
        return raw_aes.unwrap(b64d(material), encrypted.provider_info, encrypted.encrypted, context)

    def derive_secret(self, key_id: str, purpose: str, length: int = 32) -> bytes:
        kid = self.resolve(key_id)
        rec = self._usable(self._fresh(), kid)
        first = min(rec["versions"], key=lambda v: v["version"])
        return hkdf_secret(b64d(first["material"]), purpose, length)

    def _wrap(self, kid: str, plaintext: bytes, context: Mapping[str, str]) -> DataKey:
        rec = self._usable(self._fresh(), kid)
        newest = rec["versions"][-1]
        name = wrapping_key_name(kid, newest["version"])
        info, wrapped = raw_aes.wrap(b64d(newest["material"]), NAMESPACE, name, plaintext, context)
        return DataKey(plaintext, wrapped, key_arn(kid), NAMESPACE, info)

    @staticmethod
    def _usable(store: dict[str, Any], kid: str) -> dict[str, Any]:
        rec = store["keys"][kid]
        state = rec["state"]
        if state == DISABLED:
            raise KeyUnavailable(f"key {kid} is disabled (enable it with `privml keys enable {kid}`)")
        if state == PENDING:
            when = rec["deletion_date"]
            raise KeyUnavailable(f"key {kid} is pending deletion (on {when}) and cannot be used")
        if state == DELETED:
            raise KeyUnavailable(f"key {kid} was deleted; data encrypted under it is unrecoverable")
        return rec


def _new_key(store: dict[str, Any], full_alias: str | None, description: str) -> str:
    key_id = str(uuid.uuid4())
    now = _now().isoformat()
    store["keys"][key_id] = {
        "description": description,
        "created": now,
        "state": ENABLED,
        "deletion_date": None,
        "versions": [{"version": 1, "created": now, "material": b64e(os.urandom(32))}],
    }
    if full_alias:
        store["aliases"][full_alias] = key_id
    return key_id


def _shred(rec: dict[str, Any]) -> None:
    rec["state"] = DELETED
    rec["versions"] = []


class _Mutation:
    """Lock, re-read, let the caller change the store, write it back atomically."""

    def __init__(self, kms: LocalKms) -> None:
        self.kms = kms

    def __enter__(self) -> dict[str, Any]:
        self._lock = self.kms._file.locked()
        self._lock.__enter__()
        try:
            self.kms._reload(force=True)
            for rec in self.kms._store["keys"].values():
                if LocalKms._due(rec):
                    _shred(rec)
        except BaseException:
            self._lock.__exit__(None, None, None)
            raise
        return self.kms._store

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        try:
            if exc_type is None:
                self.kms._file.save(self.kms._store)
                self.kms._sig = self.kms._file.signature()
            else:  # drop the half-made change
                self.kms._sig = None
        finally:
            self._lock.__exit__(None, None, None)
