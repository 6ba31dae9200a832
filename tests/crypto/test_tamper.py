"""Flip any single bit of a message: decryption fails with an authentication error that names no key
material, and a file decryption leaves no output behind."""

from __future__ import annotations

import base64
import json
import struct
from pathlib import Path

import pytest

from privml.crypto import envelope
from privml.crypto.local_kms import LocalKms
from privml.crypto.raw_aes import RawAesKeyring
from privml.errors import IntegrityError, KeyUnavailable, PrivmlError


def _edk_name_span(message: bytes) -> range:
    """Byte positions of the first EDK's provider id, key name, tag and IV lengths: tampering there
    reads as "a data key of another provider", which is KeyUnavailable rather than IntegrityError."""
    (ctx_len,) = struct.unpack_from(">H", message, 35)
    pos = 37 + ctx_len + 2
    (pid_len,) = struct.unpack_from(">H", message, pos)
    (info_len,) = struct.unpack_from(">H", message, pos + 2 + pid_len)
    return range(pos, pos + 2 + pid_len + 2 + info_len - 12)  # up to the IV


@pytest.mark.parametrize("signed", [False, True])
def test_every_single_bit_flip_is_caught(signed: bool, keyring: RawAesKeyring, wrapping_key: bytes) -> None:
    plaintext = b"0123456789" * 15  # 150 bytes: two full frames and a final frame of 64
    message = envelope.encrypt(
        plaintext, provider=keyring, key_id="wrapping-key-1", context={"a": "b"}, signed=signed, frame_length=64
    )
    names = _edk_name_span(message)
    secrets = {wrapping_key.hex(), base64.b64encode(wrapping_key).decode()}
    for i in range(len(message)):
        for bit in range(8):
            tampered = bytearray(message)
            tampered[i] ^= 1 << bit
            with pytest.raises(PrivmlError) as info:
                envelope.decrypt(bytes(tampered), provider=keyring)
            err = info.value
            if i < 3:  # version and suite id: "not a message we read" (or, 0x0478↔0x0578, a failed commitment)
                assert "not" in str(err) or "unsupported" in str(err) or isinstance(err, IntegrityError)
            elif i in names:
                assert isinstance(err, IntegrityError | KeyUnavailable), (i, bit, err)
            else:
                assert isinstance(err, IntegrityError), (i, bit, err)
            assert not any(s in str(err) for s in secrets)


def _sections(message: bytes, signed: bool) -> dict[str, int]:
    header = envelope.read_header(message)
    header_end = len(header.raw)
    return {
        "context": 40,
        "edk": header_end - 40,
        "header_tag": header_end + 3,
        "frame": header_end + 16 + 30,
        "frame_tag": header_end + 16 + 16 + 64 + 5,
        "final_frame": len(message) - (120 if signed else 20),
        "footer": len(message) - 10,
    }


@pytest.mark.parametrize("signed", [False, True])
def test_tampered_file_leaves_no_output(signed: bool, kms: LocalKms, tmp_path: Path) -> None:
    key_id = kms.create_key()
    src = tmp_path / "plain"
    src.write_bytes(b"z" * 200)
    enc = tmp_path / "message"
    envelope.encrypt_file(src, enc, provider=kms, key_id=key_id, context={"run": "1"}, signed=signed, frame_length=64)
    message = enc.read_bytes()
    material = json.loads(kms.path.read_text())["keys"][key_id]["versions"][0]["material"]
    for name, pos in _sections(message, signed).items():
        if name == "footer" and not signed:
            pos = len(message) - 1  # the final frame's tag is the last thing in an unsigned message
        tampered = bytearray(message)
        tampered[pos] ^= 0x10
        bad = tmp_path / f"bad-{name}"
        bad.write_bytes(tampered)
        out = tmp_path / f"out-{name}"
        with pytest.raises(IntegrityError) as info:
            envelope.decrypt_file(bad, out, provider=kms)
        assert material not in str(info.value)
        assert not out.exists(), name
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # no temp files


def test_truncation_anywhere_is_caught(keyring: RawAesKeyring, tmp_path: Path) -> None:
    message = envelope.encrypt(b"q" * 300, provider=keyring, key_id="wrapping-key-1", frame_length=128)
    for cut in range(1, len(message)):
        with pytest.raises(PrivmlError):
            envelope.decrypt(message[:cut], provider=keyring)
    bad = tmp_path / "cut"
    bad.write_bytes(message[:-1])
    with pytest.raises(IntegrityError, match="truncated"):
        envelope.decrypt_file(bad, tmp_path / "out", provider=keyring)
    assert not (tmp_path / "out").exists()


def test_dropping_or_reordering_frames_is_caught(keyring: RawAesKeyring) -> None:
    frame = 128
    message = envelope.encrypt(b"r" * (3 * frame + 5), provider=keyring, key_id="wrapping-key-1", frame_length=frame)
    body = len(envelope.read_header(message).raw) + 16
    size = 4 + 12 + frame + 16
    frames = [message[body + i * size : body + (i + 1) * size] for i in range(3)]
    rest = message[body + 3 * size :]
    for reordered in (
        [frames[1], frames[0], frames[2]],
        [frames[0], frames[2]],
        [frames[0], frames[1], frames[2], frames[2]],
    ):
        with pytest.raises(IntegrityError):
            envelope.decrypt(message[:body] + b"".join(reordered) + rest, provider=keyring)
    with pytest.raises(IntegrityError, match="after the end"):
        envelope.decrypt(message + b"\x00", provider=keyring)


def test_wrong_context_is_refused(kms: LocalKms) -> None:
    key_id = kms.create_key()
    message = envelope.encrypt(b"data", provider=kms, key_id=key_id, context={"dataset": "adult"})
    assert envelope.decrypt(message, provider=kms, required_context={"dataset": "adult"}) == b"data"
    with pytest.raises(IntegrityError, match="'dataset' has a different value"):
        envelope.decrypt(message, provider=kms, required_context={"dataset": "other"})
    with pytest.raises(IntegrityError, match="'stage' is missing"):
        envelope.decrypt(message, provider=kms, required_context={"stage": "train"})


def test_wrong_key_is_refused(keyring: RawAesKeyring) -> None:
    message = envelope.encrypt(b"data", provider=keyring, key_id="wrapping-key-1")
    impostor = RawAesKeyring("privml-test", "wrapping-key-1", b"\x01" * 32)
    with pytest.raises(IntegrityError):
        envelope.decrypt(message, provider=impostor)
    stranger = RawAesKeyring("privml-test", "another-key", b"\x01" * 32)
    with pytest.raises(KeyUnavailable, match="no data key in the message is for this key provider"):
        envelope.decrypt(message, provider=stranger)
