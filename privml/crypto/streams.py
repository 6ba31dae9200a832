"""Byte plumbing for envelope encryption: where message bytes come from (memory, or a file read into
reused buffers) and where plaintext goes, without per-frame allocations."""

from __future__ import annotations

import ctypes
import os
import platform
from pathlib import Path
from typing import IO, Any

from cryptography.hazmat.primitives import hashes

from privml.crypto.message import ByteSource
from privml.errors import IntegrityError, PrivmlError


class Source(ByteSource):
    hasher: hashes.Hash | None = None

    def view(self, n: int) -> memoryview:
        raise NotImplementedError

    def read(self, n: int) -> bytes:
        return bytes(self.view(n))

    def at_end(self) -> bool:
        raise NotImplementedError


class MemorySource(Source):
    def __init__(self, data: bytes) -> None:
        self._data = memoryview(data).cast("B")
        self.pos = 0

    def view(self, n: int) -> memoryview:
        end = self.pos + n
        if end > len(self._data):
            raise IntegrityError("message is truncated")
        chunk = self._data[self.pos : end]
        self.pos = end
        if self.hasher:
            self.hasher.update(chunk)
        return chunk

    def at_end(self) -> bool:
        return self.pos == len(self._data)

    def rest(self) -> memoryview:
        return self._data[self.pos :]


class FileSource(Source):
    def __init__(self, reader: IO[bytes]) -> None:
        self._reader = reader
        self._buf = memoryview(bytearray(1 << 16))

    def reserve(self, n: int) -> None:
        if len(self._buf) < n:
            self._buf = memoryview(bytearray(n))

    def view(self, n: int) -> memoryview:
        self.reserve(n)
        chunk = self._buf[:n]
        if fill(self._reader, chunk) != n:
            raise IntegrityError("message is truncated")
        if self.hasher:
            self.hasher.update(chunk)
        return chunk

    def at_end(self) -> bool:
        return self._reader.read(1) == b""


class Sink:
    def space(self, n: int) -> memoryview:
        raise NotImplementedError

    def commit(self, n: int) -> None:
        raise NotImplementedError


class MemorySink(Sink):
    def __init__(self, view: memoryview) -> None:
        self._view = view
        self.pos = 0

    def space(self, n: int) -> memoryview:
        if self.pos + n > len(self._view):
            raise PrivmlError("output buffer too small for the decrypted message")
        return self._view[self.pos : self.pos + n]

    def commit(self, n: int) -> None:
        self.pos += n


class FileSink(Sink):
    def __init__(self, fd: int, frame_length: int) -> None:
        self._fd = fd
        self._buf = memoryview(bytearray(frame_length))

    def space(self, n: int) -> memoryview:
        return self._buf[:n]

    def commit(self, n: int) -> None:
        write_all(self._fd, self._buf[:n])


def open_input(path: Path, buffering: int) -> IO[bytes]:
    try:
        return open(path, "rb", buffering=buffering)
    except FileNotFoundError:
        raise PrivmlError(f"input file not found: {path}") from None
    except IsADirectoryError:
        raise PrivmlError(f"input is a directory, not a file: {path}") from None
    except OSError as exc:
        raise PrivmlError(f"cannot read {path}: {exc.strerror}") from None


def check_distinct(src: Path, dst: Path) -> None:
    if src.resolve() == dst.resolve():
        raise PrivmlError("input and output must be different files")


def fill(reader: IO[bytes], view: memoryview) -> int:
    """Read until `view` is full or the input ends; return the bytes read."""
    got = 0
    while got < len(view):
        n = reader.readinto(view[got:])  # type: ignore[attr-defined]
        if not n:
            break
        got += n
    return got


def write_all(fd: int, view: memoryview) -> None:
    while view:
        n = os.write(fd, view)
        view = view[n:]


def new_bytes(n: int) -> tuple[bytes, memoryview] | None:
    """A new, not yet shared `bytes` of length n and a writable view of its buffer, or None where that
    is not possible (not CPython, or n == 0).

    Returning a fresh result as `bytes` otherwise costs two passes over new memory (fill a bytearray,
    then copy it into bytes), and first-touch page faults make each pass expensive on some VMs (about
    0.8 GB/s here). CPython's public C API allows exactly this: PyBytes_FromStringAndSize(NULL, n)
    returns an uninitialised object that its creator fills before anyone else can see it. The view
    must be released before the bytes object is handed out."""
    if n <= 0 or _PYBYTES is None:
        return None
    new, as_string = _PYBYTES
    obj = new(None, n)
    view = memoryview((ctypes.c_char * n).from_address(as_string(obj))).cast("B")
    return obj, view


def _pybytes_api() -> tuple[Any, Any] | None:
    if platform.python_implementation() != "CPython":
        return None
    new = ctypes.pythonapi.PyBytes_FromStringAndSize
    new.restype = ctypes.py_object
    new.argtypes = [ctypes.c_void_p, ctypes.c_ssize_t]
    as_string = ctypes.pythonapi.PyBytes_AsString
    as_string.restype = ctypes.c_void_p
    as_string.argtypes = [ctypes.py_object]
    return new, as_string


_PYBYTES = _pybytes_api()
