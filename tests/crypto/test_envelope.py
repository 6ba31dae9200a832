from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from privml.crypto import envelope
from privml.crypto.local_kms import LocalKms
from privml.crypto.message import SUITE_COMMITTING, SUITE_COMMITTING_SIGNED
from privml.crypto.raw_aes import RawAesKeyring
from privml.errors import KeyUnavailable, PrivmlError

KEYRING = RawAesKeyring("privml-test", "k", b"\x07" * 32)
contexts = st.dictionaries(
    st.text(min_size=1, max_size=12).filter(lambda k: not k.startswith("aws-crypto-")), st.text(max_size=20), max_size=4
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=3000), frame=st.integers(1, 700), context=contexts, signed=st.booleans())
def test_round_trip(data: bytes, frame: int, context: dict[str, str], signed: bool) -> None:
    message = envelope.encrypt(data, provider=KEYRING, key_id="k", context=context, signed=signed, frame_length=frame)
    assert envelope.decrypt(message, provider=KEYRING, required_context=context) == data
    header = envelope.read_header(message)
    assert header.suite_id == (SUITE_COMMITTING_SIGNED if signed else SUITE_COMMITTING)
    assert {k: v for k, v in header.context.items() if not k.startswith("aws-crypto-")} == context
    out = bytearray(len(message))
    assert out[: envelope.decrypt_into(message, out, provider=KEYRING)] == data
    buf = bytearray(envelope.encrypted_size(len(data), frame, signed) + 65536)
    n = envelope.encrypt_into(
        data, buf, provider=KEYRING, key_id="k", context=context, signed=signed, frame_length=frame
    )
    assert envelope.decrypt(bytes(buf[:n]), provider=KEYRING) == data


@pytest.mark.parametrize("size", [0, 1, 4096, 3 * 4096, 3 * 4096 + 1])
def test_file_round_trip(size: int, kms: LocalKms, tmp_path: Path) -> None:
    key_id = kms.create_key()
    data = os.urandom(size)
    src, enc, out = tmp_path / "in", tmp_path / "enc", tmp_path / "out"
    src.write_bytes(data)
    envelope.encrypt_file(src, enc, provider=kms, key_id=key_id, context={"f": "1"}, frame_length=4096)
    assert stat.S_IMODE(enc.stat().st_mode) == 0o600
    assert envelope.decrypt(enc.read_bytes(), provider=kms) == data  # file and memory agree
    assert envelope.decrypt_file(enc, out, provider=kms, required_context={"f": "1"}) == {"f": "1"}
    assert out.read_bytes() == data


def test_reserved_context_and_bad_frame_length_refused() -> None:
    with pytest.raises(PrivmlError, match="reserved prefix"):
        envelope.encrypt(b"", provider=KEYRING, key_id="k", context={"aws-crypto-public-key": "x"})
    for frame in (0, -1, (1 << 26) + 1):
        with pytest.raises(PrivmlError, match="frame length"):
            envelope.encrypt(b"", provider=KEYRING, key_id="k", frame_length=frame)


def test_frame_length_limit_on_decrypt() -> None:
    message = envelope.encrypt(b"x" * 10, provider=KEYRING, key_id="k", frame_length=1 << 16)
    with pytest.raises(PrivmlError, match="exceeds the limit"):
        envelope.decrypt(message, provider=KEYRING, max_frame_length=1 << 12)


def test_bad_inputs_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(PrivmlError, match="empty"):
        envelope.decrypt(b"", provider=KEYRING)
    with pytest.raises(PrivmlError, match="not an encrypted privml message"):
        envelope.decrypt(b"name,age\nalice,30\n", provider=KEYRING)
    with pytest.raises(PrivmlError, match="is a version 1 AWS Encryption SDK message"):
        envelope.decrypt(b"\x01\x80" + b"\x00" * 40, provider=KEYRING)
    with pytest.raises(PrivmlError, match="unsupported algorithm suite 0x0178"):
        envelope.decrypt(b"\x02\x01\x78" + b"\x00" * 40, provider=KEYRING)
    with pytest.raises(PrivmlError, match="input file not found"):
        envelope.decrypt_file(tmp_path / "missing", tmp_path / "out", provider=KEYRING)
    src = tmp_path / "a"
    src.write_bytes(b"x")
    with pytest.raises(PrivmlError, match="different files"):
        envelope.encrypt_file(src, src, provider=KEYRING, key_id="k")
    with pytest.raises(PrivmlError, match="output directory does not exist"):
        envelope.encrypt_file(src, tmp_path / "no" / "out", provider=KEYRING, key_id="k")
    with pytest.raises(KeyUnavailable, match="unknown key"):
        envelope.encrypt(b"x", provider=LocalKms.open(tmp_path / "ws"), key_id="alias/none")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "ws"]


def test_failed_encrypt_leaves_no_output(kms: LocalKms, tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.write_bytes(b"x" * 100)
    key_id = kms.create_key()
    kms.disable(key_id)
    with pytest.raises(KeyUnavailable, match="disabled"):
        envelope.encrypt_file(src, tmp_path / "out", provider=kms, key_id=key_id)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in"]


def test_disabled_and_deleted_keys(kms: LocalKms, tmp_path: Path) -> None:
    key_id = kms.create_key("k")
    message = envelope.encrypt(b"secret", provider=kms, key_id="k")
    kms.disable("k")
    with pytest.raises(KeyUnavailable, match="disabled"):
        envelope.decrypt(message, provider=kms)
    kms.enable("k")
    assert envelope.decrypt(message, provider=kms) == b"secret"
    kms.schedule_deletion(key_id, 0)
    enc = tmp_path / "enc"
    enc.write_bytes(message)
    with pytest.raises(KeyUnavailable, match="unrecoverable"):
        envelope.decrypt_file(enc, tmp_path / "out", provider=kms)
    assert not (tmp_path / "out").exists()


def test_rewrap_after_rotation_keeps_the_body(kms: LocalKms, tmp_path: Path) -> None:
    key_id = kms.create_key()
    data = os.urandom(10_000)
    message = envelope.encrypt(data, provider=kms, key_id=key_id, context={"a": "b"}, frame_length=1024)
    kms.rotate(key_id)
    moved = envelope.rewrap(message, provider=kms)
    header = envelope.read_header(moved)
    assert header.data_keys[0].provider_info.startswith(f"local:kms:key/{key_id}:v2".encode())
    assert header.message_id == envelope.read_header(message).message_id
    body = len(envelope.read_header(message).raw) + 16
    assert moved[len(header.raw) + 16 :] == message[body:]  # frames untouched
    assert envelope.decrypt(moved, provider=kms, required_context={"a": "b"}) == data

    other = kms.create_key()
    path = tmp_path / "m"
    path.write_bytes(message)
    envelope.rewrap_file(path, path, provider=kms, destination_key=other)
    assert envelope.read_header(path).key_ids == [f"local:kms:key/{other}"]
    kms.schedule_deletion(key_id, 0)  # the old key is gone; the data moved with its data key
    assert envelope.decrypt(path.read_bytes(), provider=kms) == data


def test_signed_messages_cannot_be_rewrapped(kms: LocalKms) -> None:
    message = envelope.encrypt(b"x", provider=kms, key_id=kms.create_key(), signed=True)
    with pytest.raises(PrivmlError, match="signed message cannot be re-wrapped"):
        envelope.rewrap(message, provider=kms)


def test_file_paths_are_memory_bounded(tmp_path: Path) -> None:
    """Peak Python allocations stay at a few frames whatever the file size (tracemalloc)."""
    import tracemalloc

    frame = 64 << 10
    src, enc, out = tmp_path / "in", tmp_path / "enc", tmp_path / "out"
    with open(src, "wb") as f:
        for _ in range(32):  # 8 MiB = 128 frames
            f.write(os.urandom(256 << 10))
    for op in ("encrypt", "decrypt"):
        tracemalloc.start()
        try:
            if op == "encrypt":
                envelope.encrypt_file(src, enc, provider=KEYRING, key_id="k", frame_length=frame, fsync=False)
            else:
                envelope.decrypt_file(enc, out, provider=KEYRING, fsync=False)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < 4 * frame + (256 << 10), (op, peak)
    assert out.read_bytes() == src.read_bytes()
