"""The local HTTPS endpoint, called the way users call SageMaker: boto3's sagemaker-runtime client."""

from __future__ import annotations

import json
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError

from inference.capture import CaptureConfig, capture_files, read_capture_file
from inference.handler import CSV, column_plan, parse_payload, predict_fn, to_frame
from inference.server import LocalEndpoint, start_local_endpoint
from tests.inference.conftest import CANARIES, pii_rows
from tests.signing import SigV4


@pytest.fixture(scope="module")
def endpoint_ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("endpoint-ws")


@pytest.fixture(scope="module")
def endpoint(fitted_model, endpoint_ws: Path) -> Iterator[LocalEndpoint]:
    # capture inputs too, so the test can prove that captured raw requests are on disk only encrypted
    capture = CaptureConfig(capture_input=True, capture_output=True, flush_records=10_000, flush_seconds=3600)
    handle = start_local_endpoint(fitted_model, workspace=endpoint_ws, capture=capture)
    yield handle
    handle.stop()


def runtime(endpoint: LocalEndpoint, secret: str | None = None):
    return boto3.client(
        "sagemaker-runtime", endpoint_url=endpoint.url, verify=endpoint.ca_bundle, region_name="local",
        aws_access_key_id=endpoint.credentials.access_key_id,
        aws_secret_access_key=secret or endpoint.credentials.secret_access_key,
        config=Config(retries={"max_attempts": 1}),
    )


def test_boto3_signed_request_gets_predictions_identical_to_in_process(endpoint, fitted_model, raw_requests):
    rows = raw_requests.head(25)
    body = rows.to_csv(index=False)
    response = runtime(endpoint).invoke_endpoint(EndpointName="privml", ContentType="text/csv", Body=body)
    assert response["ContentType"].startswith("text/csv")
    assert response["InvokedProductionVariant"] == "AllTraffic"
    served = response["Body"].read().decode().split()
    local = predict_fn(to_frame(parse_payload(body, CSV, column_plan(fitted_model))), fitted_model).labels
    assert served == [str(v) for v in local]
    as_json = runtime(endpoint).invoke_endpoint(
        EndpointName="privml", ContentType="application/json", Accept="application/json",
        Body=rows.to_json(orient="records"))
    assert [p["label"] for p in json.loads(as_json["Body"].read())["predictions"]] == local


def test_unsigned_and_wrongly_signed_requests_get_403(endpoint, raw_requests):
    body = raw_requests.head(1).to_csv(index=False)
    unsigned = requests.post(f"{endpoint.url}/endpoints/privml/invocations", data=body,
                             headers={"Content-Type": "text/csv"}, verify=endpoint.ca_bundle, timeout=10)
    assert unsigned.status_code == 403
    with pytest.raises(ClientError) as info:
        runtime(endpoint, secret="not-the-secret-key-000000000000000000000").invoke_endpoint(
            EndpointName="privml", ContentType="text/csv", Body=body)
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert info.value.response["Error"]["Code"] == "InvalidSignatureException"


def test_unknown_endpoint_name_is_a_client_error(endpoint, raw_requests):
    with pytest.raises(ClientError) as info:
        runtime(endpoint).invoke_endpoint(EndpointName="other", ContentType="text/csv",
                                          Body=raw_requests.head(1).to_csv(index=False))
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_plain_http_gets_no_answer(endpoint):
    with socket.create_connection(("127.0.0.1", endpoint.port), timeout=5) as sock:
        sock.sendall(b"GET /ping HTTP/1.1\r\nHost: localhost\r\n\r\n")
        data = b""
        try:
            while chunk := sock.recv(4096):
                data += chunk
        except (ConnectionResetError, TimeoutError):
            pass
    assert b"HTTP/" not in data  # the TLS handshake fails: no HTTP response at all
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(f"http://127.0.0.1:{endpoint.port}/ping", timeout=5)


def test_tls_below_1_2_is_refused_and_1_2_works(endpoint):
    for version, ok in ((ssl.TLSVersion.TLSv1_1, False), (ssl.TLSVersion.TLSv1_2, True)):
        ctx = ssl.create_default_context(cafile=endpoint.ca_bundle)
        ctx.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
        ctx.maximum_version = version
        if not ok:
            ctx.set_ciphers("ALL:@SECLEVEL=0")
        with socket.create_connection(("127.0.0.1", endpoint.port), timeout=5) as raw:
            if ok:
                with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
                    assert tls.version() == "TLSv1.2"
            else:
                with pytest.raises(ssl.SSLError):
                    ctx.wrap_socket(raw, server_hostname="localhost")


def test_container_contract(endpoint, raw_requests):
    assert requests.get(f"{endpoint.url}/ping", verify=endpoint.ca_bundle, timeout=5).status_code == 200
    r = requests.post(f"{endpoint.url}/invocations", data=raw_requests.head(3).to_csv(index=False),
                      headers={"Content-Type": "text/csv", "Accept": "application/json"},
                      verify=endpoint.ca_bundle, timeout=10, auth=SigV4(endpoint.credentials))
    assert r.status_code == 200 and len(r.json()["predictions"]) == 3


def test_payload_over_6_mb_gets_413_and_server_stays_up(endpoint):
    big = b"a" * (6 * 1024 * 1024 + 1)
    r = requests.post(f"{endpoint.url}/invocations", data=big, headers={"Content-Type": "text/csv"},
                      verify=endpoint.ca_bundle, timeout=30, auth=SigV4(endpoint.credentials))
    assert r.status_code == 413
    with pytest.raises(ClientError) as info:
        runtime(endpoint).invoke_endpoint(EndpointName="privml", ContentType="text/csv", Body=big)
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 413
    assert requests.get(f"{endpoint.url}/ping", verify=endpoint.ca_bundle, timeout=5).status_code == 200


def test_pii_stays_out_of_logs_and_capture_is_encrypted(endpoint, endpoint_ws, raw_requests, caplog_all,
                                                        capfd):
    rows = pii_rows(raw_requests, 3)
    client = runtime(endpoint)
    ok = client.invoke_endpoint(EndpointName="privml", ContentType="text/csv", Body=rows.to_csv(index=False),
                                InferenceId="req-42")
    assert len(ok["Body"].read().split()) == 3
    bad = rows.to_csv(index=False).replace("\n", "\n" + CANARIES["ssn"] + ",", 1)  # a ragged row
    with pytest.raises(ClientError) as info:
        client.invoke_endpoint(EndpointName="privml", ContentType="text/csv", Body=bad)
    assert CANARIES["ssn"] not in json.dumps(info.value.response["Error"])
    endpoint.app.capture.flush()

    # the server's logs only (this process also holds the boto3 client, whose DEBUG log prints the body)
    server_records = [r for r in caplog_all.records if r.name.startswith(("privml", "uvicorn"))]
    logged = "\n".join(r.getMessage() for r in server_records) + "".join(capfd.readouterr())
    assert "ValidationError" in logged  # the bad request was logged, by its problem only
    for canary in CANARIES.values():
        assert canary not in logged
    files = capture_files("privml", endpoint_ws)
    assert files
    for path in endpoint_ws.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            for canary in CANARIES.values():
                assert canary.encode() not in data, path
    records = [r for f in files for r in read_capture_file(f, endpoint="privml", workspace=endpoint_ws)]
    inputs = [r["captureData"]["endpointInput"]["data"] for r in records if "endpointInput" in r["captureData"]]
    assert any(CANARIES["email"] in text for text in inputs)  # key holders can read what was captured
    assert all({"eventId", "inferenceTime"} <= set(r["eventMetadata"]) for r in records)
    assert all(r["captureData"]["endpointOutput"]["mode"] == "OUTPUT" for r in records)
    assert [r["eventMetadata"].get("inferenceId") for r in records].count("req-42") == 1  # boto3's InferenceId


def test_concurrent_requests_are_batched_yet_answered_individually(endpoint, fitted_model, raw_requests):
    from concurrent.futures import ThreadPoolExecutor

    plan = column_plan(fitted_model)
    bodies = [raw_requests.iloc[i : i + 1 + i % 3].to_csv(index=False) for i in range(40)]
    bodies[7] = bodies[7].replace("\n", "\n,,", 1)  # ragged: 400 at parse time
    bodies[13] = "email,age\nx,1\n"  # missing columns: 400
    expected = {i: predict_fn(to_frame(parse_payload(b, CSV, plan)), fitted_model).labels
                for i, b in enumerate(bodies) if i not in (7, 13)}

    def call(i: int) -> tuple[int, int, str]:
        with requests.Session() as s:
            s.trust_env = False
            r = s.post(f"{endpoint.url}/invocations", data=bodies[i], headers={"Content-Type": "text/csv"},
                       verify=endpoint.ca_bundle, timeout=30, auth=SigV4(endpoint.credentials))
        return i, r.status_code, r.text

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(call, range(len(bodies))))
    for i, status, text in results:
        if i in (7, 13):
            assert status == 400
        else:
            assert status == 200 and text.split() == [str(v) for v in expected[i]], i


def test_the_users_own_certificate_is_served(fitted_model, tmp_path: Path):
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    from inference.tls import user_tls_material
    from privml.errors import PrivmlError

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "my-org localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .sign(key, hashes.SHA256()))
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                         serialization.PrivateFormat.PKCS8,
                                                         serialization.NoEncryption()))
    with start_local_endpoint(fitted_model, workspace=tmp_path / "ws", certfile=str(tmp_path / "cert.pem"),
                              keyfile=str(tmp_path / "key.pem")) as ep:
        assert ep.ca_bundle == str(tmp_path / "cert.pem")
        with requests.Session() as s:
            s.trust_env = False
            assert s.get(f"{ep.url}/ping", verify=ep.ca_bundle, timeout=5).status_code == 200
    other = ec.generate_private_key(ec.SECP256R1())
    (tmp_path / "other.pem").write_bytes(other.private_bytes(serialization.Encoding.PEM,
                                                             serialization.PrivateFormat.PKCS8,
                                                             serialization.NoEncryption()))
    with pytest.raises(PrivmlError, match="usable pair"):
        user_tls_material(tmp_path / "cert.pem", tmp_path / "other.pem")


def test_the_benchmarks_no_op_endpoint_is_the_same_stack_without_a_handler(tmp_path: Path):
    """The no-op ceiling answers without parsing or a model, but keeps everything else: TLS, SigV4 and
    data capture, exactly as configured for a model endpoint."""
    capture = CaptureConfig(capture_input=True, capture_output=True, flush_records=10_000, flush_seconds=3600)
    handle = start_local_endpoint(None, workspace=tmp_path, capture=capture, noop=True, name="ceiling")
    try:
        client = runtime(handle)
        answer = client.invoke_endpoint(EndpointName="ceiling", ContentType="text/csv", Body="not,parsed\n")
        assert answer["Body"].read() == b"0\n"
        with pytest.raises(ClientError) as info:
            runtime(handle, secret="wrong").invoke_endpoint(EndpointName="ceiling", ContentType="text/csv", Body="x")
        assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
        handle.app.capture.flush()
    finally:
        handle.stop()
    (path,) = capture_files("ceiling", tmp_path)
    (record,) = read_capture_file(path, endpoint="ceiling", workspace=tmp_path)
    assert record["captureData"]["endpointInput"]["data"] == "not,parsed\n"
    assert record["captureData"]["endpointOutput"]["data"] == "0\n"
