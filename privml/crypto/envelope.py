"""Envelope encryption in the AWS Encryption SDK message format (v2; suite 0x0478, or 0x0578 signed).

A fresh data key per message, wrapped by the key provider under a named master key and bound to the
encryption context; the content is split into frames, each AES-256-GCM authenticated. Decryption
releases a frame's plaintext only after its tag verifies; a file is written to a temporary name and
renamed only after the whole message (and its signature) verifies, so a failure leaves no output.

Speed comes from doing per-frame work in C: one AESGCM object per message, `encrypt_into` /
`decrypt_into` on memoryviews of preallocated buffers, `readinto` and `os.write` for files. Memory is
bounded by a few frames, whatever the message size.
"""

from __future__ import annotations

import base64
import os
import struct
from collections.abc import Mapping
from pathlib import Path

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from privml.crypto import message as fmt
from privml.crypto.context import PUBLIC_KEY_FIELD, check_required, check_user_context, serialize_context
from privml.crypto.keys import DataKey, KeyProvider, owns
from privml.crypto.streams import (
    FileSink,
    FileSource,
    MemorySink,
    MemorySource,
    Sink,
    Source,
    check_distinct,
    fill,
    new_bytes,
    open_input,
    write_all,
)
from privml.errors import IntegrityError, KeyUnavailable, PrivmlError
from privml.io.atomic import atomic_output

DEFAULT_FRAME_LENGTH = 1 << 20
DEFAULT_MAX_FRAME_LENGTH = 1 << 26  # decrypt refuses bigger frames: they would break the memory bound
_HEADER_IV = b"\x00" * fmt.IV_LEN
_CURVE = ec.SECP384R1()
_MAX_SIGNATURE = 104  # DER ECDSA P-384: 2 + 2 × (2 + 49)


# -- encryption --------------------------------------------------------------------------------------
class _Sealer:
    """Header and frames of one message being written."""

    def __init__(
        self,
        provider: KeyProvider,
        key_id: str,
        context: Mapping[str, str] | None,
        signed: bool,
        frame_length: int,
    ) -> None:
        if not 0 < frame_length <= DEFAULT_MAX_FRAME_LENGTH:
            raise PrivmlError(f"frame length must be between 1 and {DEFAULT_MAX_FRAME_LENGTH} bytes")
        ctx = check_user_context(context)
        suite = fmt.SUITE_COMMITTING_SIGNED if signed else fmt.SUITE_COMMITTING
        self._signer: ec.EllipticCurvePrivateKey | None = None
        if signed:
            self._signer = ec.generate_private_key(_CURVE)
            point = self._signer.public_key().public_bytes(Encoding.X962, PublicFormat.CompressedPoint)
            ctx[PUBLIC_KEY_FIELD] = base64.b64encode(point).decode("ascii")
        data_key = provider.generate_data_key(key_id, ctx, fmt.DATA_KEY_LEN)
        self.message_id = os.urandom(fmt.MESSAGE_ID_LEN)
        enc_key, commitment = fmt.derive_keys(data_key.plaintext, suite, self.message_id)
        stored = DataKey(b"", data_key.encrypted, data_key.key_id, data_key.provider_id, data_key.key_info)
        header = fmt.serialize_header(
            suite, self.message_id, serialize_context(ctx), [stored], frame_length, commitment
        )
        self._aead = AESGCM(enc_key)
        self.prefix = header + self._aead.encrypt(_HEADER_IV, b"", header)
        self.frame_length = frame_length
        self._hasher = hashes.Hash(hashes.SHA384()) if signed else None
        if self._hasher:
            self._hasher.update(self.prefix)
        self._seq = 0

    def seal_into(self, plaintext: memoryview, out: memoryview, final: bool) -> int:
        """Write one frame (regular, or final) to the start of `out`; return its size."""
        self._seq += 1
        seq, n = self._seq, len(plaintext)
        if seq > fmt.MAX_FRAMES:
            raise PrivmlError("message too large for its frame length (frame count limit)")
        iv = fmt.frame_iv(seq)
        if final:
            struct.pack_into(">II12sI", out, 0, fmt.FINAL_MARKER, seq, iv, n)
            offset = 24
        else:
            struct.pack_into(">I12s", out, 0, seq, iv)
            offset = 16
        end = offset + n + fmt.TAG_LEN
        self._aead.encrypt_into(iv, plaintext, fmt.frame_aad(self.message_id, final, seq, n), out[offset:end])
        if self._hasher:
            self._hasher.update(out[:end])
        return end

    def footer(self) -> bytes:
        if self._signer is None or self._hasher is None:
            return b""
        digest = self._hasher.finalize()
        signature = self._signer.sign(digest, ec.ECDSA(Prehashed(hashes.SHA384())))
        return struct.pack(">H", len(signature)) + signature


def encrypted_size(plaintext_length: int, frame_length: int = DEFAULT_FRAME_LENGTH, signed: bool = False) -> int:
    """The size of a message's frames and footer (an upper bound for signed messages, whose DER
    signature length varies); the header and its auth tag come on top."""
    full, rest = divmod(plaintext_length, frame_length)
    footer = 2 + _MAX_SIGNATURE if signed else 0
    return full * (frame_length + fmt.REGULAR_OVERHEAD) + fmt.FINAL_OVERHEAD + rest + footer


def encrypt(
    plaintext: bytes,
    *,
    provider: KeyProvider,
    key_id: str,
    context: Mapping[str, str] | None = None,
    signed: bool = False,
    frame_length: int = DEFAULT_FRAME_LENGTH,
) -> bytes:
    """Encrypt `plaintext` under master key `key_id` into one AWS Encryption SDK message."""
    sealer = _Sealer(provider, key_id, context, signed, frame_length)
    src = memoryview(plaintext).cast("B")
    size = len(sealer.prefix) + encrypted_size(len(src), frame_length, signed)
    fresh = None if signed else new_bytes(size)  # a signed message's exact size is known only at the end
    if fresh is not None:
        message, view = fresh
        with view:
            if _seal_all(sealer, src, view) != size:
                raise AssertionError("encrypted size mismatch")  # unreachable: sizes are exact unsigned
        return message
    out = bytearray(size)
    with memoryview(out) as view:
        n = _seal_all(sealer, src, view)
        return bytes(view[:n])


def encrypt_into(
    plaintext: bytes,
    out: bytearray | memoryview,
    *,
    provider: KeyProvider,
    key_id: str,
    context: Mapping[str, str] | None = None,
    signed: bool = False,
    frame_length: int = DEFAULT_FRAME_LENGTH,
) -> int:
    """Like `encrypt`, but into a caller's buffer (reusing one avoids first-touch page faults of a fresh
    allocation, which dominate on some VMs). Returns the message length. The buffer must hold
    `encrypted_size(len(plaintext), frame_length, signed)` bytes plus the header (a few hundred bytes
    for a small encryption context; a buffer that is too small is refused before anything is written)."""
    sealer = _Sealer(provider, key_id, context, signed, frame_length)
    view = memoryview(out).cast("B")
    if len(view) < len(sealer.prefix) + encrypted_size(len(plaintext), frame_length, signed):
        raise PrivmlError("output buffer too small for the encrypted message")
    return _seal_all(sealer, memoryview(plaintext).cast("B"), view)


def _seal_all(sealer: _Sealer, src: memoryview, view: memoryview) -> int:
    frame_length = sealer.frame_length
    full = len(src) // frame_length
    view[: len(sealer.prefix)] = sealer.prefix
    pos = len(sealer.prefix)
    for i in range(full):
        pos += sealer.seal_into(src[i * frame_length : (i + 1) * frame_length], view[pos:], False)
    pos += sealer.seal_into(src[full * frame_length :], view[pos:], True)
    footer = sealer.footer()
    view[pos : pos + len(footer)] = footer
    return pos + len(footer)


def encrypt_file(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    *,
    provider: KeyProvider,
    key_id: str,
    context: Mapping[str, str] | None = None,
    signed: bool = False,
    frame_length: int = DEFAULT_FRAME_LENGTH,
    fsync: bool = True,
) -> None:
    """Stream-encrypt file `src` to `dst` (temp file + rename; nothing at `dst` on failure)."""
    src_path, dst_path = Path(src), Path(dst)
    check_distinct(src_path, dst_path)
    with open_input(src_path, buffering=0) as reader:
        sealer = _Sealer(provider, key_id, context, signed, frame_length)
        inbuf = memoryview(bytearray(frame_length))
        outbuf = memoryview(bytearray(frame_length + fmt.FINAL_OVERHEAD))
        with atomic_output(dst_path, fsync=fsync) as fd:
            write_all(fd, memoryview(sealer.prefix))
            while True:
                n = fill(reader, inbuf)
                final = n < frame_length  # a full frame is never final: an empty final frame follows
                size = sealer.seal_into(inbuf[:n], outbuf, final)
                write_all(fd, outbuf[:size])
                if final:
                    break
            write_all(fd, memoryview(sealer.footer()))


# -- decryption --------------------------------------------------------------------------------------
class _Opened:
    """A message whose header has authenticated: ready to open frames."""

    def __init__(
        self,
        src: Source,
        provider: KeyProvider,
        required_context: Mapping[str, str] | None,
        max_frame_length: int,
    ) -> None:
        header_hasher = hashes.Hash(hashes.SHA384())
        src.hasher = header_hasher  # only kept if the suite is signed
        self.header = header = fmt.parse_header(src)
        if not header.signed:
            src.hasher = None
        check_required(header.context, required_context)
        data_key = _unwrap(provider, header)
        enc_key, commitment = fmt.derive_keys(data_key, header.suite_id, header.message_id)
        if not fmt.commitment_matches(commitment, header.commitment):
            raise IntegrityError("message failed key commitment: tampered, or not for this data key")
        self._aead = AESGCM(enc_key)
        try:
            self._aead.decrypt(_HEADER_IV, header.auth_tag, header.raw)
        except InvalidTag:
            raise IntegrityError("message header failed authentication: tampered or corrupt") from None
        if header.frame_length > max_frame_length:
            raise PrivmlError(
                f"message frame length {header.frame_length} exceeds the limit {max_frame_length} (max_frame_length)"
            )
        self._verifier: ec.EllipticCurvePublicKey | None = None
        if header.signed:
            self._verifier = _public_key(header.context)
        self.src = src

    def authenticate_header(self, header_bytes: bytes) -> bytes:
        """The header auth tag for a rewritten header of this message (same data key)."""
        return self._aead.encrypt(_HEADER_IV, b"", header_bytes)

    def frames(self, sink: Sink) -> None:
        src, header = self.src, self.header
        frame_length, message_id = header.frame_length, header.message_id
        seq = 0
        while True:
            seq += 1
            (marker,) = struct.unpack(">I", src.view(4))
            final = marker == fmt.FINAL_MARKER
            number = struct.unpack(">I", src.view(4))[0] if final else marker
            if number != seq or seq > fmt.MAX_FRAMES:
                raise IntegrityError(f"frame {seq} is out of sequence: message tampered or corrupt")
            iv = src.read(fmt.IV_LEN)
            n = struct.unpack(">I", src.view(4))[0] if final else frame_length
            if n > frame_length:
                raise IntegrityError(f"frame {seq} is longer than the frame length: message tampered")
            body = src.view(n + fmt.TAG_LEN)
            try:
                self._aead.decrypt_into(iv, body, fmt.frame_aad(message_id, final, seq, n), sink.space(n))
            except InvalidTag:
                raise IntegrityError(f"frame {seq} failed authentication: message tampered or corrupt") from None
            sink.commit(n)
            if final:
                break
        self._finish()

    def _finish(self) -> None:
        src = self.src
        if self._verifier is not None:
            assert src.hasher is not None
            digest = src.hasher.finalize()
            src.hasher = None
            (length,) = struct.unpack(">H", src.view(2))
            signature = src.read(length)
            try:
                self._verifier.verify(signature, digest, ec.ECDSA(Prehashed(hashes.SHA384())))
            except InvalidSignature:
                raise IntegrityError("message signature failed verification: tampered or corrupt") from None
        if not src.at_end():
            raise IntegrityError("unexpected data after the end of the message")


def _public_key(context: Mapping[str, str]) -> ec.EllipticCurvePublicKey:
    encoded = context.get(PUBLIC_KEY_FIELD)
    if not encoded:
        raise IntegrityError("signed message lacks its public key in the encryption context")
    try:
        return ec.EllipticCurvePublicKey.from_encoded_point(_CURVE, base64.b64decode(encoded, validate=True))
    except ValueError:
        raise IntegrityError("signed message has an invalid public key") from None


def _unwrap(provider: KeyProvider, header: fmt.Header) -> bytes:
    candidates = [dk for dk in header.data_keys if owns(provider, dk)]
    if not candidates:
        names = ", ".join(sorted({k for k in header.key_ids if k})) or "unknown"
        raise KeyUnavailable(f"no data key in the message is for this key provider (message keys: {names})")
    errors: list[PrivmlError] = []
    for dk in candidates:
        try:
            return provider.decrypt_data_key(dk, header.context)
        except PrivmlError as exc:
            errors.append(exc)
    unavailable = [e for e in errors if isinstance(e, KeyUnavailable)]
    raise unavailable[0] if unavailable else errors[0]


def decrypt(
    message: bytes,
    *,
    provider: KeyProvider,
    required_context: Mapping[str, str] | None = None,
    max_frame_length: int = DEFAULT_MAX_FRAME_LENGTH,
) -> bytes:
    """Authenticate and decrypt one message; `required_context` pairs must all be in its context."""
    src = MemorySource(message)
    opened = _Opened(src, provider, required_context, max_frame_length)
    length = _content_length(src.rest(), opened.header.frame_length)
    fresh = new_bytes(length) if length is not None else None
    if fresh is not None:
        plaintext, view = fresh
        with view:
            sink = MemorySink(view)
            opened.frames(sink)
            if sink.pos != length:
                raise IntegrityError("message is malformed: frame lengths disagree")
        return plaintext
    out = bytearray(len(src.rest()))  # plaintext is always shorter than the rest of its message
    with memoryview(out) as view:
        sink = MemorySink(view)
        opened.frames(sink)
        return bytes(view[: sink.pos])


def _content_length(body: memoryview, frame_length: int) -> int | None:
    """The plaintext length the frame headers announce (None if they do not add up: the real pass
    then reports what is wrong). Reads only sequence markers and the final frame's length field."""
    pos, total, end = 0, 0, len(body)
    while pos + 24 <= end:
        if body[pos : pos + 4] == b"\xff\xff\xff\xff":
            n = int.from_bytes(body[pos + 20 : pos + 24], "big")
            return total + n if n <= frame_length and total + n <= end else None
        total += frame_length
        pos += fmt.REGULAR_OVERHEAD + frame_length
    return None


def decrypt_into(
    message: bytes,
    out: bytearray | memoryview,
    *,
    provider: KeyProvider,
    required_context: Mapping[str, str] | None = None,
    max_frame_length: int = DEFAULT_MAX_FRAME_LENGTH,
) -> int:
    """Like `decrypt`, into a caller's buffer (`len(message)` bytes always suffice); returns the
    plaintext length. On failure the buffer may hold plaintext of frames that authenticated before the
    failing one: callers must discard it."""
    src = MemorySource(message)
    opened = _Opened(src, provider, required_context, max_frame_length)
    sink = MemorySink(memoryview(out).cast("B"))
    opened.frames(sink)
    return sink.pos


def decrypt_file(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    *,
    provider: KeyProvider,
    required_context: Mapping[str, str] | None = None,
    max_frame_length: int = DEFAULT_MAX_FRAME_LENGTH,
    fsync: bool = True,
) -> dict[str, str]:
    """Stream-decrypt `src` to `dst`; `dst` appears only if the whole message authenticates.
    Returns the message's encryption context."""
    src_path, dst_path = Path(src), Path(dst)
    check_distinct(src_path, dst_path)
    with open_input(src_path, buffering=1 << 16) as reader:
        source = FileSource(reader)
        opened = _Opened(source, provider, required_context, max_frame_length)
        source.reserve(opened.header.frame_length + fmt.TAG_LEN)
        with atomic_output(dst_path, fsync=fsync) as fd:
            opened.frames(FileSink(fd, opened.header.frame_length))
    return dict(opened.header.context)


def decrypt_to_stream(
    src: str | os.PathLike[str],
    fd: int,
    *,
    provider: KeyProvider,
    required_context: Mapping[str, str] | None = None,
    max_frame_length: int = DEFAULT_MAX_FRAME_LENGTH,
) -> dict[str, str]:
    """Stream-decrypt `src` to an open descriptor (a pipe, stdout): each frame is written once its tag
    verifies, so a failure part-way leaves the frames before it written, as with any stream; callers that
    need all-or-nothing use decrypt_file. Returns the message's encryption context."""
    with open_input(Path(src), buffering=1 << 16) as reader:
        source = FileSource(reader)
        opened = _Opened(source, provider, required_context, max_frame_length)
        source.reserve(opened.header.frame_length + fmt.TAG_LEN)
        opened.frames(FileSink(fd, opened.header.frame_length))
    return dict(opened.header.context)


def read_header(source: bytes | str | os.PathLike[str]) -> fmt.Header:
    """The parsed (not yet authenticated) header: suite, context, data keys and their master key ids."""
    if isinstance(source, bytes | bytearray | memoryview):
        return fmt.parse_header(MemorySource(bytes(source)))
    with open_input(Path(source), buffering=1 << 16) as reader:
        return fmt.parse_header(FileSource(reader))


# -- re-wrapping -----------------------------------------------------------------------------------------
def rewrap(message: bytes, *, provider: KeyProvider, destination_key: str | None = None) -> bytes:
    """The same message with its data key re-wrapped (KMS ReEncrypt) under the newest material of its
    key, or under `destination_key`: the header is rewritten and re-authenticated, the body is not
    touched. Used after rotation, or to move data to another key. Unsigned messages only."""
    src = MemorySource(message)
    prefix = _rewrapped_prefix(src, provider, destination_key)
    return prefix + bytes(src.rest())


def rewrap_file(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    *,
    provider: KeyProvider,
    destination_key: str | None = None,
    fsync: bool = True,
) -> None:
    """`rewrap` for a file (dst may be src: the new file replaces it atomically)."""
    src_path, dst_path = Path(src), Path(dst)
    with open_input(src_path, buffering=1 << 16) as reader:
        prefix = _rewrapped_prefix(FileSource(reader), provider, destination_key)
        with atomic_output(dst_path, fsync=fsync) as fd:
            write_all(fd, memoryview(prefix))
            buf = memoryview(bytearray(1 << 20))
            while n := fill(reader, buf):
                write_all(fd, buf[:n])


def _rewrapped_prefix(src: Source, provider: KeyProvider, destination_key: str | None) -> bytes:
    rewrap_key = getattr(provider, "rewrap", None)
    if rewrap_key is None:
        raise PrivmlError(f"key provider {type(provider).__name__} cannot re-wrap data keys")
    opened = _Opened(src, provider, None, fmt.MAX_FRAME_LENGTH)
    header = opened.header
    if header.signed:
        raise PrivmlError("a signed message cannot be re-wrapped (its signature covers the header)")
    keys = [rewrap_key(dk, header.context, destination_key) if owns(provider, dk) else dk for dk in header.data_keys]
    new_header = fmt.serialize_header(
        header.suite_id, header.message_id, header.context_raw, keys, header.frame_length, header.commitment
    )
    return new_header + opened.authenticate_header(new_header)
