"""HTTP/1.1 limits applied before a request reaches the app: what production servers set by default.

uvicorn's httptools protocol has no cap on the size of a request head and no deadline for receiving
it; it arms a keep-alive timeout only after a first response. `LimitedHttpToolsProtocol` adds:

- `max_head_bytes`: the request line and headers together, counted as raw bytes arrive (httptools
  accumulates a header in memory before it calls back, so the count is taken before feeding it). A
  head over the cap gets 431 and the connection is closed; nothing more of it is read.
- `head_timeout`: from a connection's first byte (or a keep-alive request's first byte) to the end of
  its headers, and from accepting a connection to its first byte. A client that has not sent a whole
  head by then is disconnected (408, as nginx's `client_header_timeout`).
- `max_connections`: connections open at once; the next one is closed as soon as it is accepted.

The body has its own deadline and size cap in the app (inference/app.py), and the header *count* too.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

log = logging.getLogger("privml.endpoint")

MAX_HEAD_BYTES = 16 * 1024  # nginx's large_client_header_buffers default is 4 × 8 kB; Node's is 16 kB
HEAD_TIMEOUT = 10.0  # seconds (nginx: client_header_timeout 60 s; Go's servers commonly 5-10 s)
KEEP_ALIVE_TIMEOUT = 5  # idle seconds between requests on one connection (uvicorn's default)
MAX_CONNECTIONS = 1024


def _status(code: int, reason: str) -> bytes:
    return (f"HTTP/1.1 {code} {reason}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: 0\r\n"
            "connection: close\r\n\r\n").encode("ascii")


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    max_head_bytes = MAX_HEAD_BYTES
    head_timeout = HEAD_TIMEOUT
    max_connections = MAX_CONNECTIONS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_bytes = 0
        self._in_head = True  # between requests or inside a request's head
        self._head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.max_connections:
            log.warning("connection refused: %d connections open", len(self.connections) - 1)
            transport.close()
            return
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if not self._in_head:
            super().data_received(data)
            return
        allowed = self.max_head_bytes - self._head_bytes
        head, rest = (data, b"") if len(data) <= allowed else (data[:allowed], data[allowed:])
        self._head_bytes += len(head)
        super().data_received(head)
        if rest and self.parser is not None and not self.transport.is_closing():
            if self._in_head:  # the cap is reached and the headers have not ended
                self._refuse(431, "Request Header Fields Too Large",
                             f"request head over {self.max_head_bytes} bytes")
                return
            super().data_received(rest)

    def on_message_begin(self) -> None:
        # called from inside the parser's feed: the bytes of this chunk are already counted, so the
        # count is reset only between responses (on_response_complete), never here
        super().on_message_begin()
        self._in_head = True
        if self._head_timer is None:
            self._arm_head_timer()

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._cancel_head_timer()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        # between requests: the keep-alive timeout uvicorn arms applies until the next byte
        self._in_head = True
        self._head_bytes = 0
        super().on_response_complete()

    def _arm_head_timer(self) -> None:
        self._cancel_head_timer()
        self._head_timer = self.loop.call_later(self.head_timeout, self._head_timed_out)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self._in_head and not self.transport.is_closing():
            busy = self.cycle is not None and not self.cycle.response_complete
            if not busy:
                self._refuse(408, "Request Timeout", f"request head not received within {self.head_timeout:g} s")

    def _refuse(self, code: int, reason: str, why: str) -> None:
        log.info("%d: %s", code, why)
        self._cancel_head_timer()
        self.transport.write(_status(code, reason))
        self.transport.close()
