"""Members out of a model.tar.gz (what SageMaker packs from a training job's model directory), read as a
stream within fixed bounds, into memory. One reader serves the Evaluate job (privml/models/evaluation.py)
and the endpoint (inference/model_source.py): both read archives someone else wrote."""

from __future__ import annotations

import io
import lzma
import tarfile
import zlib
from typing import Any

from privml.errors import PrivmlError

# model.tar.gz bounds, checked as the archive streams, before a member is inflated whole
MAX_MODEL_BYTES = 1 << 30  # a wanted member (model.skops; its own zip bounds follow: persistence.py)
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


def _inflate(handle: Any, size: int, counter: _CountingReader, source: str) -> bytes:
    chunks, inflated = [], 0
    while chunk := handle.read(_CHUNK):
        inflated += len(chunk)
        if inflated > _CHUNK and inflated > MAX_ARCHIVE_RATIO * max(counter.consumed, 1):
            raise PrivmlError(f"{source}: archive's compression ratio exceeds {MAX_ARCHIVE_RATIO}:1")
        chunks.append(chunk)
    if inflated != size:
        raise PrivmlError(f"{source}: archive is truncated")
    return b"".join(chunks)


def read_members(source_file: Any, compressed_size: int, source: str, wanted: tuple[str, ...]) -> dict[str, bytes]:
    """The regular files named in `wanted`, at the top of the archive, read from `source_file` as a
    stream. At each member header, before its data is inflated: the member count, a wanted member's size,
    and the bytes declared so far against what the compressed archive can hold at `MAX_ARCHIVE_RATIO`;
    while a wanted member inflates, the ratio of bytes out to compressed bytes in. A bomb or a sparse
    giant is refused before it is read; a truncated archive, or one lacking a wanted member, is bad
    input. Reading stops once every wanted member is in. `source` names the archive in errors."""
    counter = _CountingReader(source_file)
    ceiling = MAX_ARCHIVE_RATIO * max(compressed_size, _CHUNK)
    declared = 0
    found: dict[str, bytes] = {}
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
                name = member.name.removeprefix("./")
                if not (member.isfile() and name in wanted) or name in found:
                    continue
                if member.size > MAX_MODEL_BYTES:
                    raise PrivmlError(f"{source}: {name} is larger than {MAX_MODEL_BYTES >> 20} MiB")
                handle = tar.extractfile(member)
                if handle is None:
                    break
                found[name] = _inflate(handle, member.size, counter, source)
                if len(found) == len(wanted):
                    return found
    except (tarfile.TarError, EOFError, OSError, zlib.error, lzma.LZMAError, ValueError):
        raise PrivmlError(f"{source}: not a readable model archive (truncated or corrupt)") from None
    missing = [name for name in wanted if name not in found]
    raise PrivmlError(f"{source}: archive lacks {', '.join(missing)} at its top level")
