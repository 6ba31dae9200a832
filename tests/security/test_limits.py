"""Finding 2: requests were unbounded before authentication (100 kB to 200 MB headers accepted, no
header or body deadline, a disconnect counted as a 5xx, `--access-log` silent). Each limit, probed."""

from __future__ import annotations

import logging
import threading
import time

import pytest
import requests

from inference.limits import MAX_HEAD_BYTES, LimitedHttpToolsProtocol
from tests.security.conftest import ROW_CSV, read_response, read_until_closed, tls_socket
from tests.signing import SigV4


def _ping_seconds(endpoint) -> float:
    started = time.perf_counter()
    r = requests.get(f"{endpoint.url}/ping", verify=endpoint.ca_bundle, timeout=10)
    assert r.status_code == 200
    return time.perf_counter() - started


def test_oversized_header_is_refused_before_it_is_read(endpoint) -> None:
    """A 2 MB header: 431 after at most the cap is read, and the connection closes."""
    with tls_socket(endpoint) as sock:
        sock.sendall(b"POST /invocations HTTP/1.1\r\nHost: localhost\r\nX-Big: ")
        sent, refused = 0, False
        chunk = b"a" * 65536
        try:
            while sent < 2 << 20:
                sock.sendall(chunk)
                sent += len(chunk)
        except (ConnectionError, OSError):
            refused = True
        answer = read_response(sock)
    assert refused or answer.startswith(b"HTTP/1.1 431"), answer[:80]
    assert b"aaaa" not in answer
    assert _ping_seconds(endpoint) < 1.0


def test_head_just_over_the_cap_gets_431(endpoint) -> None:
    with tls_socket(endpoint) as sock:
        sock.sendall(b"GET /ping HTTP/1.1\r\nHost: localhost\r\nX-Pad: " + b"b" * MAX_HEAD_BYTES + b"\r\n\r\n")
        answer = read_response(sock)
    assert answer.startswith(b"HTTP/1.1 431"), answer[:80]


def test_too_many_header_fields_get_431(endpoint, session, signed) -> None:
    headers = {f"X-H{i}": "1" for i in range(150)}
    headers["Content-Type"] = "text/csv"
    r = session.post(f"{endpoint.url}/invocations", data=ROW_CSV, headers=headers, timeout=10, auth=signed)
    assert r.status_code == 431


@pytest.fixture
def short_head_timeout(monkeypatch):
    monkeypatch.setattr(LimitedHttpToolsProtocol, "head_timeout", 1.0)


def test_slow_header_is_cut_off(endpoint, short_head_timeout) -> None:
    """Slowloris: a head that trickles in (a header line every 0.2 s) is cut off at the head deadline."""
    with tls_socket(endpoint) as sock:
        started = time.monotonic()
        sock.sendall(b"GET /ping HTTP/1.1\r\nHost: localhost\r\n")
        for _ in range(10):
            try:
                sock.sendall(b"X-Slow: 1\r\n")
            except OSError:
                break
            time.sleep(0.2)
        answer, closed = read_until_closed(sock, timeout=4)
        elapsed = time.monotonic() - started
    assert closed and elapsed < 6, elapsed
    assert answer == b"" or answer.startswith(b"HTTP/1.1 408"), answer[:80]


def test_silent_connection_is_dropped(endpoint, short_head_timeout) -> None:
    """A connection that sends nothing at all is closed at the head deadline."""
    with tls_socket(endpoint) as sock:
        answer, closed = read_until_closed(sock, timeout=4)
    assert closed
    assert b"200" not in answer


def test_slow_body_gets_408(endpoint, monkeypatch) -> None:
    monkeypatch.setattr(endpoint.app, "body_timeout", 1.0)
    body = ROW_CSV.encode()
    headers = endpoint.signed_headers("/invocations", body, {"Content-Type": "text/csv"})
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    with tls_socket(endpoint) as sock:
        sock.sendall(f"POST /invocations HTTP/1.1\r\n{head}Content-Length: {len(body)}\r\n\r\n".encode()
                     + body[:10])
        started = time.monotonic()
        answer = read_response(sock)
    assert answer.startswith(b"HTTP/1.1 408"), answer[:80]
    assert time.monotonic() - started < 4


def test_declared_body_over_6_mb_is_refused_unread(endpoint) -> None:
    """413 on the declared length alone: the server does not wait for (or read) the 7 MB."""
    headers = endpoint.signed_headers("/invocations", b"", {"Content-Type": "text/csv"})
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items() if k.lower() != "x-amz-content-sha256")
    with tls_socket(endpoint) as sock:
        sock.sendall(f"POST /invocations HTTP/1.1\r\n{head}Content-Length: {7 << 20}\r\n\r\n".encode())
        sock.settimeout(5)
        answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:80]


def test_disconnect_is_not_an_error(endpoint, caplog) -> None:
    caplog.set_level(logging.DEBUG, logger="privml")
    before = dict(endpoint.app.stats)
    body = ROW_CSV.encode() * 50
    headers = endpoint.signed_headers("/invocations", body, {"Content-Type": "text/csv"})
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    for _ in range(3):
        with tls_socket(endpoint) as sock:
            sock.sendall(f"POST /invocations HTTP/1.1\r\n{head}Content-Length: {len(body)}\r\n\r\n".encode()
                         + body[:100])
            time.sleep(0.2)
    deadline = time.monotonic() + 5
    while endpoint.app.stats["disconnects"] < before.get("disconnects", 0) + 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert endpoint.app.stats["errors_5xx"] == before["errors_5xx"]
    assert endpoint.app.stats["disconnects"] >= before.get("disconnects", 0) + 3
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_connection_cap(endpoint, monkeypatch) -> None:
    """Connections over the cap are closed on accept; those within it keep working."""
    held = []
    try:
        monkeypatch.setattr(LimitedHttpToolsProtocol, "max_connections", 4)
        for _ in range(4):
            held.append(tls_socket(endpoint))
        time.sleep(0.2)
        with tls_socket(endpoint) as extra:
            answer, closed = read_until_closed(extra, timeout=3)
        assert closed and answer == b""
    finally:
        for sock in held:
            sock.close()
    time.sleep(0.2)
    assert _ping_seconds(endpoint) < 2.0


def test_access_log_names_the_route_never_a_value(security_model, security_workspace, caplog) -> None:
    from inference.server import start_local_endpoint

    caplog.set_level(logging.INFO, logger="privml.access")
    with start_local_endpoint(security_model, workspace=security_workspace, access_log=True,
                              name="logged") as handle, requests.Session() as s:
        s.verify, s.trust_env = handle.ca_bundle, False
        s.get(f"{handle.url}/ping", timeout=5)
        s.post(f"{handle.url}/endpoints/canary-zq9-name/invocations?canary=zq9value", data=ROW_CSV,
               headers={"Content-Type": "text/csv"}, timeout=10)
        s.post(f"{handle.url}/invocations", data=ROW_CSV, headers={"Content-Type": "text/csv"}, timeout=10,
               auth=SigV4(handle.credentials))
    lines = [r.getMessage() for r in caplog.records if r.name == "privml.access"]
    assert len(lines) == 3, lines
    assert lines[0].startswith("GET /ping 200 0 ")
    assert lines[1].startswith("POST /endpoints/{name}/invocations 403 ")
    assert lines[2].startswith("POST /invocations 200 ")
    assert all(line.endswith("ms") for line in lines)
    text = "\n".join(lines)
    assert "canary" not in text and "zq9" not in text and "Ann" not in text


def test_ping_stays_fast_during_a_header_flood(endpoint) -> None:
    """While 8 clients push oversized heads, /ping answers promptly."""
    stop = threading.Event()

    def flood() -> None:
        while not stop.is_set():
            try:
                with tls_socket(endpoint, timeout=5) as sock:
                    sock.sendall(b"GET /ping HTTP/1.1\r\nX-Big: ")
                    for _ in range(64):
                        sock.sendall(b"c" * 16384)
            except OSError:
                continue

    threads = [threading.Thread(target=flood, daemon=True) for _ in range(8)]
    for t in threads:
        t.start()
    try:
        time.sleep(0.5)
        worst = max(_ping_seconds(endpoint) for _ in range(10))
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=10)
    assert worst < 1.0, worst
