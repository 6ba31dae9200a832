"""Data capture as SageMaker writes it, each capture file envelope-encrypted.

Records are SageMaker's capture JSON Lines (`captureData.endpointInput/endpointOutput`, `eventMetadata`,
`eventVersion`). Captured requests hold raw personal data, so the default captures outputs only; the
audit warns when an endpoint captures inputs. Records are buffered in memory and written as one file
per flush, encrypted under the endpoint's capture key before anything touches the disk, laid out as
SageMaker does: `<workspace>/capture/<endpoint>/AllTraffic/YYYY/MM/DD/HH/<uuid>.jsonl.enc`.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import os
import random
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from privml.errors import PrivmlError
from privml.workspace import private_dir, workspace_dir

log = logging.getLogger("privml.capture")
VARIANT = "AllTraffic"
SUFFIX = ".jsonl.enc"


@dataclass(frozen=True)
class CaptureConfig:
    """SageMaker's DataCaptureConfig, locally. Default: outputs only, every request."""

    enabled: bool = True
    sampling_percentage: int = 100
    capture_input: bool = False
    capture_output: bool = True
    key_alias: str | None = None  # default: privml/endpoint/<endpoint>/capture
    flush_records: int = 1000
    flush_seconds: float = 5.0

    def __post_init__(self) -> None:
        if not 0 <= self.sampling_percentage <= 100:
            raise PrivmlError("capture sampling percentage must be between 0 and 100")
        if self.enabled and not (self.capture_input or self.capture_output):
            raise PrivmlError("capture must include Input, Output or both")

    @classmethod
    def from_options(cls, modes: str, sampling_percentage: int = 100, **kw: Any) -> CaptureConfig:
        """`modes`: "Output", "Input", "Input,Output" or "none" (capture off)."""
        chosen = {m.strip().lower() for m in modes.split(",") if m.strip()}
        if chosen == {"none"}:
            return cls(enabled=False, **kw)
        if not chosen or not chosen <= {"input", "output"}:
            raise PrivmlError("capture modes must be Input, Output, Input,Output or none")
        return cls(True, sampling_percentage, "input" in chosen, "output" in chosen, **kw)


def capture_alias(endpoint: str) -> str:
    return f"privml/endpoint/{endpoint}/capture"


def capture_dir(endpoint: str, workspace: str | os.PathLike[str] | None = None) -> Path:
    return workspace_dir(workspace) / "capture" / endpoint


def _payload(mode: str, content_type: str, data: bytes) -> str:
    """One captured payload as a JSON object (text): SageMaker's fields, in its order."""
    kind = content_type.split(";", 1)[0].strip().lower()
    encoding = {"text/csv": "CSV", "application/json": "JSON"}.get(kind)
    if encoding is not None:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            encoding = None
    if encoding is None:
        text, encoding = base64.b64encode(data).decode("ascii"), "BASE64"
    return (f'{{"observedContentType": {_json_text(content_type)}, "mode": "{mode}", '
            f'"data": {_json_text(text)}, "encoding": "{encoding}"}}')


# json.dumps for one string, without the encoder set-up it does per call: a capture line assembled from
# these takes ~1.8 µs, against ~6 µs through json.dumps of nested dicts
_json_text = json.encoder.encode_basestring_ascii  # type: ignore[attr-defined]


def _context(endpoint: str) -> dict[str, str]:
    return {"privml:purpose": "endpoint-data-capture", "privml:endpoint": endpoint}


class _EventIds:
    """Random (version 4) UUID strings, drawing randomness 256 at a time: a `uuid4()` per request costs
    a getrandom system call, which is a noticeable share of a one-row request."""

    def __init__(self) -> None:
        self._pool = b""
        self._lock = threading.Lock()

    def next(self) -> str:
        with self._lock:
            if not self._pool:
                self._pool = os.urandom(16 * 256)
            raw, self._pool = self._pool[:16], self._pool[16:]
        h = raw.hex()
        variant = "89ab"[int(h[16], 16) & 3]
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{variant}{h[17:20]}-{h[20:]}"


class CaptureWriter:
    """Buffers capture records and writes them as encrypted files. Thread-safe."""

    def __init__(self, endpoint: str, config: CaptureConfig, workspace: str | os.PathLike[str] | None = None,
                 *, provider: Any = None) -> None:
        from privml.crypto.providers import default_key_provider

        self.endpoint = endpoint
        self.config = config
        self.directory = capture_dir(endpoint, workspace)
        self._provider = provider or default_key_provider(workspace_dir(workspace))
        alias = config.key_alias or capture_alias(endpoint)
        ensure = getattr(self._provider, "ensure_key", None)
        self.key_id = ensure(alias) if ensure else alias
        self._lock = threading.Lock()
        self._buffer: list[str] = []
        self._last_flush = time.monotonic()
        self._flush_scheduled = False
        self._flushers: list[threading.Thread] = []
        self._event_ids = _EventIds()
        self._stamp = (-1, "")  # (millisecond, its ISO text)
        self._random = random.Random()  # sampling only; not security relevant  # noqa: S311

    def sampled(self) -> bool:
        pct = self.config.sampling_percentage
        return self.config.enabled and (pct >= 100 or self._random.uniform(0, 100) < pct)

    def record(self, *, request: bytes, request_type: str, response: bytes, response_type: str,
               event_id: str | None = None, inference_id: str | None = None) -> None:
        """Format one request/response pair as its JSON line and queue it; every `flush_records` records
        (or `flush_seconds`), a background thread encrypts and writes the queue (formatting here keeps that
        thread's hold on the GIL short: it only joins, encrypts and writes)."""
        line = self._line(request if self.config.capture_input else None, request_type,
                          response if self.config.capture_output else None, response_type, event_id, inference_id)
        with self._lock:
            self._buffer.append(line)
            # one flush at a time: until the scheduled one takes the buffer, later records join it
            due = not self._flush_scheduled and (
                len(self._buffer) >= self.config.flush_records
                or time.monotonic() - self._last_flush >= self.config.flush_seconds)
            if due:
                self._flush_scheduled = True
        if due:  # encrypt and write off the request path
            worker = threading.Thread(target=self._flush_logged, name="privml-capture-flush", daemon=True)
            with self._lock:
                self._flushers = [t for t in self._flushers if t.is_alive()] + [worker]
            worker.start()

    def _line(self, request: bytes | None, request_type: str, response: bytes | None, response_type: str,
              event_id: str | None, inference_id: str | None) -> str:
        parts = []
        if request is not None:
            parts.append(f'"endpointInput": {_payload("INPUT", request_type, request)}')
        if response is not None:
            parts.append(f'"endpointOutput": {_payload("OUTPUT", response_type, response)}')
        millis = int(time.time() * 1000)
        last, stamp = self._stamp
        if millis != last:  # records of the same millisecond share one formatted time
            when = dt.datetime.fromtimestamp(millis / 1000, dt.UTC).replace(tzinfo=None)
            stamp = when.isoformat(timespec="milliseconds") + "Z"
            self._stamp = (millis, stamp)
        meta = f'"eventId": {_json_text(event_id or self._event_ids.next())}, "inferenceTime": "{stamp}"'
        if inference_id:
            meta += f', "inferenceId": {_json_text(inference_id)}'
        return f'{{"captureData": {{{", ".join(parts)}}}, "eventMetadata": {{{meta}}}, "eventVersion": "0"}}'

    def _flush_logged(self) -> None:
        try:
            self.flush()
        except Exception as exc:  # records are dropped, never written in the clear; say so, without data
            log.error("data capture: could not write a capture file (%s); its records are dropped",
                      type(exc).__name__)

    def close(self) -> None:
        """Wait for background flushes, then write what is left."""
        with self._lock:
            pending = list(self._flushers)
        for t in pending:
            t.join()
        self._flush_logged()

    def flush(self) -> Path | None:
        """Encrypt and write the buffered records as one file; returns its path (None if empty)."""
        from privml.crypto import envelope

        with self._lock:
            lines, self._buffer = self._buffer, []
            self._last_flush = time.monotonic()
            self._flush_scheduled = False
        if not lines:
            return None
        now = dt.datetime.now(dt.UTC)
        folder = self.directory / VARIANT / now.strftime("%Y/%m/%d/%H")
        private_dir(folder)  # every level 0700, not the umask's mode
        plaintext = ("\n".join(lines) + "\n").encode("utf-8")
        message = envelope.encrypt(plaintext, provider=self._provider, key_id=self.key_id,
                                   context=_context(self.endpoint))
        name = f"{now.strftime('%M-%S-%f')}-{uuid.uuid4().hex}{SUFFIX}"
        tmp = folder / (name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(message)
        os.replace(tmp, folder / name)
        log.info("wrote capture file with %d record(s)", len(lines))
        return folder / name


def capture_files(endpoint: str | None, workspace: str | os.PathLike[str] | None = None) -> list[Path]:
    root = workspace_dir(workspace) / "capture"
    base = root / endpoint if endpoint else root
    return sorted(base.rglob(f"*{SUFFIX}")) if base.exists() else []


def read_capture_file(path: Path, *, endpoint: str, provider: Any = None,
                      workspace: str | os.PathLike[str] | None = None) -> Iterator[dict[str, Any]]:
    """Decrypt one capture file (key holders only) and yield its records."""
    from privml.crypto import envelope
    from privml.crypto.providers import default_key_provider

    provider = provider or default_key_provider(workspace_dir(workspace))
    plaintext = envelope.decrypt(path.read_bytes(), provider=provider, required_context=_context(endpoint))
    for line in plaintext.decode("utf-8").splitlines():
        if line.strip():
            yield json.loads(line)


def endpoint_of(path: Path, workspace: str | os.PathLike[str] | None = None) -> str:
    """The endpoint a capture file belongs to, from its place under <workspace>/capture/."""
    rel = path.resolve().relative_to(workspace_dir(workspace) / "capture")
    return rel.parts[0]
