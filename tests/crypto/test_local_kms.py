from __future__ import annotations

import json
import os
import stat
from concurrent.futures import ProcessPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest

from privml.crypto import local_kms
from privml.crypto.keys import DataKey
from privml.crypto.local_kms import LocalKms
from privml.errors import IntegrityError, KeyUnavailable, PrivmlError


def test_store_file_is_private(kms: LocalKms) -> None:
    kms.create_key("a")
    assert stat.S_IMODE(kms.path.stat().st_mode) == 0o600


def test_ids_aliases_and_arns_resolve(kms: LocalKms) -> None:
    key_id = kms.create_key("orders", "orders table")
    for ref in (key_id, "alias/orders", "orders", f"local:kms:key/{key_id}", "local:kms:alias/orders"):
        assert kms.resolve(ref) == key_id
    with pytest.raises(KeyUnavailable, match="unknown key"):
        kms.resolve("alias/nope")
    with pytest.raises(KeyUnavailable, match="unknown key"):
        kms.resolve("local:kms:key/00000000-0000-0000-0000-000000000000")
    with pytest.raises(PrivmlError, match="already exists"):
        kms.create_key("orders")


def test_ensure_key_is_idempotent_and_survives_reopen(kms: LocalKms, workspace: Path) -> None:
    key_id = kms.ensure_key("tokens")
    assert kms.ensure_key("alias/tokens") == key_id
    assert LocalKms.open(workspace).ensure_key("tokens") == key_id
    assert [k["key_id"] for k in kms.list_keys()] == [key_id]


def _ensure(workspace: str) -> str:
    return LocalKms.open(Path(workspace)).ensure_key("shared")


def test_ensure_key_across_processes_creates_one_key(workspace: Path) -> None:
    with ProcessPoolExecutor(4) as pool:
        ids = set(pool.map(_ensure, [str(workspace)] * 8))
    assert len(ids) == 1
    assert len(LocalKms.open(workspace).list_keys()) == 1


def test_data_key_round_trip_binds_context(kms: LocalKms) -> None:
    key_id = kms.create_key()
    dk = kms.generate_data_key(key_id, {"purpose": "test"})
    assert len(dk.plaintext) == 32 and dk.key_id == f"local:kms:key/{key_id}"
    assert kms.decrypt_data_key(dk, {"purpose": "test"}) == dk.plaintext
    with pytest.raises(IntegrityError):
        kms.decrypt_data_key(dk, {"purpose": "other"})
    assert dk.plaintext.hex() not in repr(dk)


def test_derive_secret_is_deterministic_and_stable_across_rotation(kms: LocalKms, workspace: Path) -> None:
    a, b = kms.create_key(), kms.create_key()
    s1 = kms.derive_secret(a, "tokenize:email")
    assert kms.derive_secret(a, "tokenize:email") == s1
    assert LocalKms.open(workspace).derive_secret(f"local:kms:key/{a}", "tokenize:email") == s1
    assert kms.derive_secret(a, "tokenize:phone") != s1
    assert kms.derive_secret(b, "tokenize:email") != s1
    assert len(kms.derive_secret(a, "x", 64)) == 64
    kms.rotate(a)
    assert kms.derive_secret(a, "tokenize:email") == s1
    kms.disable(a)
    with pytest.raises(KeyUnavailable, match="disabled"):
        kms.derive_secret(a, "tokenize:email")


def test_rotation_keeps_old_data_keys_and_rewrap_moves_them(kms: LocalKms) -> None:
    key_id = kms.create_key()
    old = kms.generate_data_key(key_id, {})
    assert kms.rotate(key_id) == 2
    assert kms.decrypt_data_key(old, {}) == old.plaintext
    new = kms.generate_data_key(key_id, {})
    assert b":v2" in new.key_info and b":v1" in old.key_info
    moved = kms.rewrap(old, {})
    assert b":v2" in moved.key_info and moved.plaintext == b""
    assert kms.decrypt_data_key(moved, {}) == old.plaintext


def test_disable_enable(kms: LocalKms) -> None:
    key_id = kms.create_key("k")
    dk = kms.generate_data_key(key_id, {})
    kms.disable("k")
    with pytest.raises(KeyUnavailable, match="disabled"):
        kms.decrypt_data_key(dk, {})
    with pytest.raises(KeyUnavailable, match="disabled"):
        kms.generate_data_key(key_id, {})
    kms.enable("k")
    assert kms.decrypt_data_key(dk, {}) == dk.plaintext


def test_scheduled_deletion_blocks_then_shreds(kms: LocalKms, monkeypatch: pytest.MonkeyPatch) -> None:
    key_id = kms.create_key("doomed")
    dk = kms.generate_data_key(key_id, {})
    when = kms.schedule_deletion(key_id, 7)
    with pytest.raises(KeyUnavailable, match="pending deletion"):
        kms.decrypt_data_key(dk, {})
    kms.cancel_deletion(key_id)
    assert kms.describe(key_id)["state"] == "Disabled"
    kms.enable(key_id)
    assert kms.decrypt_data_key(dk, {}) == dk.plaintext
    kms.schedule_deletion(key_id, 7)
    assert when
    later = local_kms._now() + timedelta(days=8)
    monkeypatch.setattr(local_kms, "_now", lambda: later)
    with pytest.raises(KeyUnavailable, match="deleted; data encrypted under it is unrecoverable"):
        kms.decrypt_data_key(dk, {})
    stored = json.loads(kms.path.read_text())["keys"][key_id]
    assert stored["state"] == "Deleted" and stored["versions"] == []  # the material is gone from disk


def test_immediate_deletion_and_bad_days(kms: LocalKms) -> None:
    key_id = kms.create_key()
    kms.schedule_deletion(key_id, 0)
    with pytest.raises(KeyUnavailable, match="deleted"):
        kms.derive_secret(key_id, "p")
    with pytest.raises(PrivmlError, match="between 0 and 30"):
        kms.schedule_deletion(kms.create_key(), 31)


def test_foreign_or_unknown_data_keys_are_refused(kms: LocalKms, workspace: Path, tmp_path: Path) -> None:
    other = LocalKms.open(tmp_path / "other")
    dk = other.generate_data_key(other.create_key(), {})
    with pytest.raises(KeyUnavailable, match="not in this key store"):
        kms.decrypt_data_key(dk, {})
    with pytest.raises(KeyUnavailable, match="not the local KMS"):
        kms.decrypt_data_key(DataKey(b"", b"x", "arn", "aws-kms"), {})


def test_wrong_permissions_refused(kms: LocalKms, workspace: Path) -> None:
    kms.create_key()
    os.chmod(kms.path, 0o644)
    with pytest.raises(KeyUnavailable, match="must be 0600"):
        LocalKms.open(workspace)


def test_passphrase_protected_store(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    kms = LocalKms.open(workspace, passphrase="correct horse")
    key_id = kms.create_key("p")
    secret = kms.derive_secret(key_id, "x")
    raw = kms.path.read_text()
    assert key_id not in raw and "versions" not in raw  # sealed: not even ids are readable
    assert LocalKms.open(workspace, passphrase="correct horse").derive_secret("p", "x") == secret
    with pytest.raises(KeyUnavailable, match="wrong passphrase"):
        LocalKms.open(workspace, passphrase="wrong")
    with pytest.raises(KeyUnavailable, match="passphrase-protected"):
        LocalKms.open(workspace)
    monkeypatch.setenv("PRIVML_KEYSTORE_PASSPHRASE", "correct horse")
    assert LocalKms.open(workspace).resolve("p") == key_id


def test_passphrase_can_be_added_and_removed(kms: LocalKms, workspace: Path) -> None:
    key_id = kms.create_key("p")
    kms.set_passphrase("s3cret")
    with pytest.raises(KeyUnavailable, match="passphrase-protected"):
        LocalKms.open(workspace)
    again = LocalKms.open(workspace, passphrase="s3cret")
    again.set_passphrase(None)
    assert LocalKms.open(workspace).resolve("p") == key_id


def test_corrupt_store_is_a_clear_error(kms: LocalKms, workspace: Path) -> None:
    kms.path.write_text("{not json")
    with pytest.raises(KeyUnavailable, match="unreadable or corrupt"):
        LocalKms.open(workspace)


def test_material_never_logged(kms: LocalKms, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG")
    key_id = kms.create_key("logged")
    kms.rotate(key_id)
    kms.disable(key_id)
    materials = [v["material"] for v in json.loads(kms.path.read_text())["keys"][key_id]["versions"]]
    assert caplog.text and not any(m in caplog.text for m in materials)
