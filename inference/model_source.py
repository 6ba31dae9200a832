"""Where the endpoint's model comes from: a directory, model.skops, model.tar.gz or an s3:// URI in the
local object store, read into memory (nothing decrypted is written to disk) within fixed bounds."""

from __future__ import annotations

import io
import lzma
import os
import tarfile
import zlib
from pathlib import Path
from typing import Any

from inference.handler import check_model
from privml.errors import PrivmlError

MODEL_FILE = "model.skops"
# model.tar.gz bounds, checked as the archive streams, before a member is inflated whole
MAX_MODEL_BYTES = 1 << 30  # model.skops itself (its own zip bounds follow: privml/models/persistence.py)
MAX_ARCHIVE_BYTES = 2 << 30  # the compressed archive
MAX_ARCHIVE_MEMBERS = 10_000  # code/ with its wheelhouse is a few hundred
MAX_ARCHIVE_RATIO = 200  # bytes declared (and inflated) per byte of the compressed archive
_CHUNK = 1 << 20


class _CountingReader(io.RawIOBase):
    """A file object that counts the compressed bytes tarfile pulls through it."""

    def __init__(self, source: Any) -> None:
        self._source = source
        self.consumed = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._source.read(len(buffer))
        buffer[: len(data)] = data
        self.consumed += len(data)
        return len(data)


def _skops_from_archive(source_file: Any, compressed_size: int, source: str) -> bytes:
    """model.skops out of a model.tar.gz, read as a stream. At each member header, before its data is
    inflated: the member count, model.skops's size, and the bytes declared so far against what the
    compressed archive can hold at `MAX_ARCHIVE_RATIO`; while model.skops inflates, the ratio of bytes
    out to compressed bytes in. A bomb or a sparse giant is refused before it is read; a truncated
    archive is bad input. Nothing decrypted is written to disk."""
    counter = _CountingReader(source_file)
    ceiling = MAX_ARCHIVE_RATIO * max(compressed_size, _CHUNK)
    declared = 0
    try:
        with tarfile.open(fileobj=io.BufferedReader(counter, _CHUNK), mode="r|*") as tar:
            for count, member in enumerate(tar, start=1):
                if count > MAX_ARCHIVE_MEMBERS:
                    raise PrivmlError(f"{source}: archive has more than {MAX_ARCHIVE_MEMBERS} members")
                if member.issparse():
                    raise PrivmlError(f"{source}: archive holds a sparse member")
                declared += member.size
                if declared > ceiling:
                    raise PrivmlError(f"{source}: archive's compression ratio exceeds {MAX_ARCHIVE_RATIO}:1")
                if not (member.isfile() and member.name in (MODEL_FILE, f"./{MODEL_FILE}")):
                    continue
                if member.size > MAX_MODEL_BYTES:
                    raise PrivmlError(f"{source}: {MODEL_FILE} is larger than {MAX_MODEL_BYTES >> 20} MiB")
                handle = tar.extractfile(member)
                if handle is None:
                    break
                chunks, inflated = [], 0
                while chunk := handle.read(_CHUNK):
                    inflated += len(chunk)
                    if inflated > _CHUNK and inflated > MAX_ARCHIVE_RATIO * max(counter.consumed, 1):
                        raise PrivmlError(f"{source}: archive's compression ratio exceeds {MAX_ARCHIVE_RATIO}:1")
                    chunks.append(chunk)
                if inflated != member.size:
                    raise PrivmlError(f"{source}: archive is truncated")
                return b"".join(chunks)
    except (tarfile.TarError, EOFError, OSError, zlib.error, lzma.LZMAError, ValueError):
        raise PrivmlError(f"{source}: not a readable model archive (truncated or corrupt)") from None
    raise PrivmlError(f"{source}: no {MODEL_FILE} at the top of the archive")


def _model_bytes_from_store(uri: str, workspace: Path) -> bytes:
    """The model from the local object store: a model.tar.gz object or a model directory prefix."""
    from privml.crypto.objectstore import LocalObjectStore

    store = LocalObjectStore.open(workspace)
    candidates = [uri] if not uri.endswith("/") else []
    candidates.append(uri.rstrip("/") + "/" + MODEL_FILE)
    for candidate in candidates:
        try:
            data = store.get_bytes(candidate)
        except PrivmlError:
            continue
        return data if candidate.endswith(MODEL_FILE) else _skops_from_archive(io.BytesIO(data), len(data), uri)
    raise PrivmlError(f"model not found in the local object store: {uri}")


def model_bytes(model: str | os.PathLike[str], workspace: Path) -> tuple[bytes, str]:
    """The skops bytes of a model given as a directory, model.skops, model.tar.gz or s3:// URI."""
    text = str(model)
    if text.startswith("s3://"):
        return _model_bytes_from_store(text, workspace), text
    path = Path(text)
    if path.is_dir():
        path = path / MODEL_FILE
    if not path.is_file():
        raise PrivmlError(f"model not found: {text}")
    if path.stat().st_size > (MAX_MODEL_BYTES if path.name.endswith(".skops") else MAX_ARCHIVE_BYTES):
        raise PrivmlError(f"{text}: model file is too large")
    if path.name.endswith(".skops"):
        return path.read_bytes(), text
    with path.open("rb") as fh:
        return _skops_from_archive(fh, path.stat().st_size, text), text


def load_endpoint_model(model: Any, workspace: Path) -> Any:
    """`model` is a location (see `model_bytes`) or an already loaded Pipeline; either way it is checked
    to start with the privacy step."""
    if isinstance(model, str | os.PathLike):
        from privml.models.persistence import loads_model

        data, source = model_bytes(model, workspace)
        return check_model(loads_model(data, source))
    return check_model(model, require_privacy_transformer=False)
