"""Finding 1: `POST /invocations` answered unsigned requests on the HTTPS port. Every route that serves
predictions now checks SigV4; `/ping` serves neither predictions nor data."""

from __future__ import annotations

from tests.security.conftest import ROW_CSV

HEADERS = {"Content-Type": "text/csv", "Accept": "application/json"}


def test_unsigned_container_route_is_refused(endpoint, session) -> None:
    r = session.post(f"{endpoint.url}/invocations", data=ROW_CSV, headers=HEADERS, timeout=10)
    assert r.status_code == 403
    assert "predictions" not in r.text


def test_wrongly_signed_container_route_is_refused(endpoint, session) -> None:
    from inference.credentials import LocalCredentials
    from tests.signing import SigV4

    forged = SigV4(LocalCredentials(endpoint.credentials.access_key_id, "x" * 40))
    r = session.post(f"{endpoint.url}/invocations", data=ROW_CSV, headers=HEADERS, timeout=10, auth=forged)
    assert r.status_code == 403


def test_signed_for_another_body_is_refused(endpoint, session) -> None:
    headers = endpoint.signed_headers("/invocations", b"age\n1\n", HEADERS)
    r = session.post(f"{endpoint.url}/invocations", data=ROW_CSV, headers=headers, timeout=10)
    assert r.status_code == 403


def test_signed_container_route_answers(endpoint, session, signed) -> None:
    r = session.post(f"{endpoint.url}/invocations", data=ROW_CSV, headers=HEADERS, timeout=10, auth=signed)
    assert r.status_code == 200, r.text
    assert len(r.json()["predictions"]) == 1


def test_every_route_that_serves_predictions_is_signed(endpoint, session) -> None:
    """The app's route table: anything but /ping answers an unsigned POST with 403 or 404/405."""
    for route in endpoint.app.app.routes:
        path = route.path.replace("{name}", endpoint.name)
        if path == "/ping":
            continue
        r = session.post(f"{endpoint.url}{path}", data=ROW_CSV, headers=HEADERS, timeout=10)
        assert r.status_code == 403, path
    assert session.get(f"{endpoint.url}/ping", timeout=5).status_code == 200


def test_plain_http_gets_no_answer(endpoint) -> None:
    import socket

    with socket.create_connection(("127.0.0.1", endpoint.port), timeout=5) as raw:
        raw.sendall(b"POST /invocations HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n")
        try:
            answer = raw.recv(4096)
        except (ConnectionError, TimeoutError):
            answer = b""
    assert b"HTTP/1.1 200" not in answer
