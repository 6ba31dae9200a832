"""bench/bench_endpoint.py drives `POST /invocations` with wrk: since the route checks SigV4, the load
must be signed (or the bench measures 403s), and any refusal must end the bench, not become a figure."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from inference.server import LocalEndpoint, start_local_endpoint

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from bench import bench_endpoint  # noqa: E402 - bench/ is run from the repository, not installed

needs_wrk = pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk not installed (apt-get install wrk)")


@pytest.fixture(scope="module")
def ceiling(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalEndpoint]:
    """The bench's no-op ceiling: the same stack, signature check included, no model."""
    handle = start_local_endpoint(None, workspace=tmp_path_factory.mktemp("bench-ws"), noop=True)
    yield handle
    handle.stop()


def _server(endpoint: LocalEndpoint) -> SimpleNamespace:
    return SimpleNamespace(port=endpoint.port, ca=endpoint.ca_bundle, name=endpoint.name)


def _body(tmp_path: Path) -> Path:
    body = tmp_path / "one_row.csv"
    body.write_bytes(b"age,income\n41,52000\n")
    return body


@needs_wrk
def test_wrk_load_is_signed_and_every_response_is_200(ceiling: LocalEndpoint, tmp_path: Path) -> None:
    creds = (ceiling.credentials.access_key_id, ceiling.credentials.secret_access_key)
    rps, _p50, _p99, errors, total = bench_endpoint.run_wrk(_server(ceiling), _body(tmp_path), 2, 1.0, tmp_path,
                                                            creds, "no-op")
    assert total > 10 and rps > 0 and errors == 0


@needs_wrk
def test_wrongly_signed_load_fails_the_bench(ceiling: LocalEndpoint, tmp_path: Path) -> None:
    wrong = (ceiling.credentials.access_key_id, "not-the-secret")
    with pytest.raises(SystemExit) as info:
        bench_endpoint.run_wrk(_server(ceiling), _body(tmp_path), 2, 1.0, tmp_path, wrong, "no-op")
    assert info.value.code != 0 and "HTTP 403" in str(info.value.code)


def test_a_point_longer_than_the_signature_lasts_is_refused(ceiling: LocalEndpoint, tmp_path: Path) -> None:
    creds = (ceiling.credentials.access_key_id, ceiling.credentials.secret_access_key)
    with pytest.raises(SystemExit, match="valid for"):
        bench_endpoint.run_wrk(_server(ceiling), _body(tmp_path), 2, 600.0, tmp_path, creds)


def test_the_signed_request_is_what_the_ceiling_verifies(ceiling: LocalEndpoint, tmp_path: Path) -> None:
    """The no-op server refuses the replayed request unsigned and accepts it signed: it verifies, so the
    model/no-op ratio compares like with like."""
    creds = (ceiling.credentials.access_key_id, ceiling.credentials.secret_access_key)
    body = _body(tmp_path).read_bytes()
    headers = bench_endpoint.signed_headers(ceiling.port, body, creds)
    assert bench_endpoint.probe(_server(ceiling), body, headers)[0] == 200
    unsigned = {k: v for k, v in headers.items() if k.lower() not in ("authorization", "x-amz-date")}
    assert bench_endpoint.probe(_server(ceiling), body, unsigned)[0] == 403
    tampered = dict(headers, Authorization=headers["Authorization"][:-4] + "0000")
    assert bench_endpoint.probe(_server(ceiling), body, tampered)[0] == 403
