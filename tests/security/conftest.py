"""The standing security suite: each attack found against privml as a test that fails if its defence
regresses. Everything runs on 127.0.0.1, bounded in time and traffic."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from inference.server import LocalEndpoint, start_local_endpoint
from tests.signing import SigV4


@pytest.fixture(scope="session")
def security_workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("security-ws")


@pytest.fixture(scope="session")
def security_model(security_workspace: Path) -> Any:
    from tests.inference.model_factory import build

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PRIVML_WORKSPACE", str(security_workspace))
        return build(rows=400, kind="logreg")


@pytest.fixture(scope="module")
def endpoint(security_model: Any, security_workspace: Path) -> Iterator[LocalEndpoint]:
    handle = start_local_endpoint(security_model, workspace=security_workspace)
    yield handle
    handle.stop()


@pytest.fixture
def session(endpoint: LocalEndpoint) -> Iterator[requests.Session]:
    with requests.Session() as s:
        s.verify = endpoint.ca_bundle
        s.trust_env = False
        yield s


@pytest.fixture
def signed(endpoint: LocalEndpoint) -> SigV4:
    return SigV4(endpoint.credentials)


def tls_socket(endpoint: LocalEndpoint, timeout: float = 10.0) -> ssl.SSLSocket:
    """A raw TLS connection to the endpoint, for requests no HTTP client would send."""
    context = ssl.create_default_context(cafile=endpoint.ca_bundle)
    raw = socket.create_connection(("127.0.0.1", endpoint.port), timeout=timeout)
    return context.wrap_socket(raw, server_hostname="localhost")


def read_response(sock: ssl.SSLSocket, limit: int = 65536) -> bytes:
    """Whatever the server sends until it closes the connection (or `limit` bytes, or the timeout)."""
    return read_until_closed(sock)[0][:limit]


def read_until_closed(sock: ssl.SSLSocket, timeout: float = 6.0) -> tuple[bytes, bool]:
    """What the server sends, and whether it closed the connection within `timeout` seconds."""
    import time

    data = b""
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return data, False
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(4096)
        except TimeoutError:
            return data, False
        except (ssl.SSLError, ConnectionError):
            return data, True
        if not chunk:
            return data, True
        data += chunk


ROW_CSV = ("name,email,phone,ssn,credit_card,street_address,ip_address,notes,age,sex,zip_code,date_of_birth,"
           "admission_date,diagnosis,income,hours_per_week,education,num_visits\n"
           "Ann Lee,ann@example.org,555-010-1234,078-05-1120,4111111111111111,1 Main St,203.0.113.9,none,"
           "41,F,90210,1983-04-02,2024-01-15,J45,52000,40,Bachelors,3\n")
