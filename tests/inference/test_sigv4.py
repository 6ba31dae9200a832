"""SigV4 verification against requests signed by botocore itself."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlsplit

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from inference.sigv4 import SignatureError, verify

KEY_ID, SECRET = "PMLLTESTKEY000000001", "s3cr3t-for-tests-only-0000000000000000000"
SECRETS = {KEY_ID: SECRET}


def signed(body: bytes = b"a,b\n1,2\n", path: str = "/endpoints/privml/invocations", query: str = "",
           secret: str = SECRET, headers: dict[str, str] | None = None) -> dict:
    url = f"https://localhost:8443{path}" + (f"?{query}" if query else "")
    request = AWSRequest(method="POST", url=url, data=body,
                         headers={"Content-Type": "text/csv", **(headers or {})})
    SigV4Auth(Credentials(KEY_ID, secret), "sagemaker", "local").add_auth(request)
    parts = urlsplit(request.url)
    hdrs = [(k, v) for k, v in request.headers.items()]
    if not any(k.lower() == "host" for k, _ in hdrs):
        hdrs.append(("host", parts.netloc))
    return {"method": "POST", "raw_path": parts.path, "query": parts.query, "headers": hdrs, "body": body}


def test_botocore_signature_verifies() -> None:
    result = verify(**signed(), secrets=SECRETS)
    assert result.access_key_id == KEY_ID and result.region == "local"


def test_query_and_quoted_path_verify() -> None:
    # A path with a percent-encoded byte and an unsorted query with an encoded value: botocore quotes the
    # path again and sorts the query, and the verifier must rebuild exactly that canonical request.
    request = signed(path="/endpoints/my%20endpoint/invocations", query="b=2&a=1&c=x%2Fy")
    result = verify(**request, secrets=SECRETS)
    assert result.access_key_id == KEY_ID and result.region == "local"
    # Both are covered by the signature: another query value or another path is refused.
    for field, value in (("query", "b=2&a=1&c=x%2Fz"), ("query", "b=2&a=1"),
                         ("raw_path", "/endpoints/my%2520endpoint/invocations")):
        with pytest.raises(SignatureError) as info:
            verify(**{**request, field: value}, secrets=SECRETS)
        assert info.value.code == "InvalidSignatureException", (field, value)


@pytest.mark.parametrize(
    ("mutate", "code"),
    [
        (lambda r: r.update(body=r["body"] + b"x"), "InvalidSignatureException"),
        (lambda r: r.update(raw_path="/endpoints/other/invocations"), "InvalidSignatureException"),
        (lambda r: r.update(method="PUT"), "InvalidSignatureException"),
        (lambda r: r.update(headers=[(k, "image/png" if k.lower() == "content-type" else v)
                                     for k, v in r["headers"]]), "InvalidSignatureException"),
        (lambda r: r.update(headers=[(k, v) for k, v in r["headers"] if k.lower() != "authorization"]),
         "MissingAuthenticationTokenException"),
        (lambda r: r.update(headers=[(k, v.replace(KEY_ID, "PMLLUNKNOWN000000000"))
                                     for k, v in r["headers"]]), "UnrecognizedClientException"),
        (lambda r: r.update(headers=[(k, "Bearer abc" if k.lower() == "authorization" else v)
                                     for k, v in r["headers"]]), "IncompleteSignatureException"),
        (lambda r: r.update(headers=[(k, v) for k, v in r["headers"] if k.lower() != "x-amz-date"]),
         "IncompleteSignatureException"),
    ],
)
def test_tampered_requests_are_refused(mutate, code: str) -> None:
    request = signed()
    mutate(request)
    with pytest.raises(SignatureError) as info:
        verify(**request, secrets=SECRETS)
    assert info.value.code == code


def test_wrong_secret_is_refused() -> None:
    with pytest.raises(SignatureError, match="does not match"):
        verify(**signed(secret="not-the-secret"), secrets=SECRETS)


def test_unsigned_payload_claim_is_refused() -> None:
    request = signed(headers={"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"})
    with pytest.raises(SignatureError, match="payload hash"):
        verify(**request, secrets=SECRETS)


def test_clock_skew_window() -> None:
    request = signed()
    now = dt.datetime.now(dt.UTC)
    verify(**request, secrets=SECRETS, now=now + dt.timedelta(minutes=4))
    with pytest.raises(SignatureError, match="clock skew"):
        verify(**request, secrets=SECRETS, now=now + dt.timedelta(minutes=6))
    with pytest.raises(SignatureError, match="clock skew"):
        verify(**request, secrets=SECRETS, now=now - dt.timedelta(minutes=6))


def test_failure_messages_hold_no_header_values() -> None:
    request = signed(secret="wrong")
    with pytest.raises(SignatureError) as info:
        verify(**request, secrets=SECRETS)
    auth = dict((k.lower(), v) for k, v in request["headers"])["authorization"]
    assert auth.split("Signature=")[1] not in str(info.value)
    assert KEY_ID not in str(info.value)
