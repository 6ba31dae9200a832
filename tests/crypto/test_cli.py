"""`privml keys`, `privml encrypt`, `privml decrypt` through privml.cli.main: exit codes and no partial
output."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from privml.cli import main
from privml.crypto.local_kms import LocalKms


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_key_lifecycle(capsys: pytest.CaptureFixture[str], workspace: Path) -> None:
    code, out, _ = run(capsys, "keys", "create", "--alias", "demo", "--description", "cli test")
    key_id = out.strip()
    assert code == 0 and LocalKms.open(workspace).resolve("demo") == key_id
    code, out, _ = run(capsys, "keys", "list", "--json")
    listed = json.loads(out)
    assert code == 0 and listed[0]["aliases"] == ["alias/demo"]
    stored = json.loads((workspace / "kms" / "keystore.json").read_text())["keys"][key_id]
    assert stored["versions"][0]["material"] not in out
    code, out, _ = run(capsys, "keys", "rotate", "demo", "--json")
    assert code == 0 and json.loads(out)["material_versions"] == 2
    for action, state in (("disable", "Disabled"), ("enable", "Enabled")):
        code, out, _ = run(capsys, "keys", action, key_id, "--json")
        assert code == 0 and json.loads(out)["state"] == state
    code, out, _ = run(capsys, "keys", "schedule-deletion", "demo", "--days", "7", "--json")
    assert code == 0 and json.loads(out)["state"] == "PendingDeletion"
    code, out, _ = run(capsys, "keys", "cancel-deletion", "demo", "--json")
    assert code == 0 and json.loads(out)["state"] == "Disabled"


def test_encrypt_decrypt_with_context(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    run(capsys, "keys", "create", "--alias", "files")
    src, enc, out = tmp_path / "in.csv", tmp_path / "in.csv.enc", tmp_path / "out.csv"
    src.write_bytes(os.urandom(100_000))
    code, _, err = run(capsys, "encrypt", str(src), str(enc), "--key", "alias/files", "--context", "dataset=adult")
    assert code == 0, err
    code, out_text, err = run(capsys, "decrypt", str(enc), str(out), "--context", "dataset=adult", "--json")
    assert code == 0, err
    assert out.read_bytes() == src.read_bytes() and json.loads(out_text)["context"] == {"dataset": "adult"}
    code, _, _ = run(capsys, "encrypt", str(src), str(tmp_path / "signed"), "--key", "files", "--signed")
    assert code == 0


def _encrypted(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> Path:
    run(capsys, "keys", "create", "--alias", "k")
    src, enc = tmp_path / "plain", tmp_path / "enc"
    src.write_bytes(b"secret data" * 100)
    assert run(capsys, "encrypt", str(src), str(enc), "--key", "k", "--context", "a=b")[0] == 0
    return enc


@pytest.mark.parametrize(
    ("mutate", "extra", "message"),
    [
        (lambda b: b[: len(b) // 2], [], "truncated"),
        (lambda b: b"name,age\nalice,30\n", [], "not an encrypted privml message"),
        (lambda b: b, ["--context", "a=c"], "different value"),
        (lambda b: b, ["--context", "x=y"], "'x' is missing"),
        (lambda b: b[:-5] + bytes([b[-5] ^ 1]) + b[-4:], [], "failed authentication"),
    ],
)
def test_bad_message_exits_2_without_output(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, mutate, extra: list[str], message: str
) -> None:
    enc = _encrypted(capsys, tmp_path)
    bad = tmp_path / "bad"
    bad.write_bytes(mutate(enc.read_bytes()))
    out = tmp_path / "out"
    code, _, err = run(capsys, "decrypt", str(bad), str(out), *extra)
    assert code == 2 and message in err and err.count("\n") == 1
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_unknown_disabled_and_deleted_keys_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    enc = _encrypted(capsys, tmp_path)
    src = tmp_path / "plain"
    code, _, err = run(capsys, "encrypt", str(src), str(tmp_path / "x"), "--key", "alias/unknown")
    assert code == 2 and "unknown key" in err and not (tmp_path / "x").exists()
    run(capsys, "keys", "disable", "k")
    code, _, err = run(capsys, "decrypt", str(enc), str(tmp_path / "out"))
    assert code == 2 and "disabled" in err
    run(capsys, "keys", "enable", "k")
    run(capsys, "keys", "schedule-deletion", "k", "--days", "0")
    code, _, err = run(capsys, "decrypt", str(enc), str(tmp_path / "out"))
    assert code == 2 and "unrecoverable" in err and not (tmp_path / "out").exists()


def test_key_store_permissions_and_passphrase_exit_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    enc = _encrypted(capsys, tmp_path)
    store = workspace / "kms" / "keystore.json"
    store.chmod(0o644)
    code, _, err = run(capsys, "decrypt", str(enc), str(tmp_path / "out"))
    assert code == 2 and "must be 0600" in err
    store.chmod(0o600)
    LocalKms.open(workspace).set_passphrase("right")
    monkeypatch.setenv("PRIVML_KEYSTORE_PASSPHRASE", "wrong")
    code, _, err = run(capsys, "keys", "list")
    assert code == 2 and "wrong passphrase" in err
    monkeypatch.setenv("PRIVML_KEYSTORE_PASSPHRASE", "right")
    assert run(capsys, "decrypt", str(enc), str(tmp_path / "out"))[0] == 0


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert run(capsys, "keys")[0] == 2
    assert run(capsys, "encrypt", "a", "b", "--key", "k", "--context", "novalue")[0] == 2
    code, _, err = run(capsys, "decrypt", str(tmp_path / "missing"), str(tmp_path / "out"))
    assert code == 2 and "not found" in err
    with pytest.raises(SystemExit) as info:
        main(["encrypt", "only-one-arg"])
    assert info.value.code == 2
