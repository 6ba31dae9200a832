"""Verify AWS Signature Version 4 on incoming requests against local credentials.

Recomputes the signature the way botocore's `SigV4Auth` builds it (canonical request → string to
sign → derived signing key) and compares in constant time. The signed headers must include `host`
and `x-amz-date`; the payload hash is always computed from the body actually received (an
`UNSIGNED-PAYLOAD` claim is refused); the request time must lie within a clock-skew window.
Failure reasons are short and never contain header values or the body.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import quote

from botocore.utils import normalize_url_path

ALGORITHM = "AWS4-HMAC-SHA256"
SERVICE = "sagemaker"
DEFAULT_SKEW = dt.timedelta(minutes=5)
_AUTH_RE = re.compile(
    r"^AWS4-HMAC-SHA256\s+Credential=(?P<cred>[^,\s]+)\s*,\s*SignedHeaders=(?P<signed>[^,\s]+)\s*,"
    r"\s*Signature=(?P<sig>[0-9a-f]{64})\s*$"
)


_NAME_EXCERPT = 32  # characters of a header name an error message may quote


def name_excerpt(name: str) -> str:
    """A header name as an error may quote it: the characters a token allows, at most 32 of them, so a
    message never carries attacker text beyond a fixed-length, inert excerpt."""
    kept = "".join(c for c in name[:_NAME_EXCERPT] if c.isascii() and (c.isalnum() or c in "-_."))
    return kept + ("..." if len(name) > _NAME_EXCERPT else "")


class SignatureError(Exception):
    """The request is not correctly signed; `code` is the AWS error type to return (HTTP 403)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class VerifiedRequest:
    access_key_id: str
    region: str


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()


def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    k = _hmac(("AWS4" + secret).encode("utf-8"), date)
    k = _hmac(k, region)
    k = _hmac(k, service)
    return _hmac(k, "aws4_request")


def _canonical_query(query: str) -> str:
    if not query:
        return ""
    pairs = [p.partition("=")[::2] for p in query.split("&")]
    return "&".join(f"{k}={v}" for k, v in sorted(pairs))


def _canonical_headers(headers: Iterable[tuple[str, str]], signed: list[str]) -> str:
    values: dict[str, list[str]] = {}
    for name, value in headers:
        values.setdefault(name.lower(), []).append(" ".join(value.split()))
    lines = []
    for name in signed:
        if name not in values:
            raise SignatureError("IncompleteSignatureException", f"signed header '{name_excerpt(name)}' is missing")
        lines.append(f"{name}:{','.join(values[name])}")
    return "\n".join(lines)


def verify(
    *,
    method: str,
    raw_path: str,
    query: str,
    headers: list[tuple[str, str]],
    body: bytes,
    secrets: Mapping[str, str],
    now: dt.datetime | None = None,
    skew: dt.timedelta = DEFAULT_SKEW,
    service: str = SERVICE,
) -> VerifiedRequest:
    """Check the request's SigV4 signature; raise SignatureError, else return who signed it.

    `secrets` maps access key id → secret access key. `raw_path` is the path as sent (percent-encoded).
    """
    header_map = {}
    for name, value in headers:
        header_map.setdefault(name.lower(), value)
    auth = header_map.get("authorization")
    if auth is None:
        raise SignatureError("MissingAuthenticationTokenException", "missing Authorization header")
    match = _AUTH_RE.match(auth)
    if match is None:
        raise SignatureError("IncompleteSignatureException", "Authorization header is not AWS4-HMAC-SHA256")
    cred_parts = match["cred"].split("/")
    if len(cred_parts) != 5 or cred_parts[4] != "aws4_request":
        raise SignatureError("IncompleteSignatureException", "malformed credential scope")
    key_id, date, region, scope_service, _ = cred_parts
    if scope_service != service:
        raise SignatureError("InvalidSignatureException", "credential scope names another service")
    secret = secrets.get(key_id)
    if secret is None:
        raise SignatureError("UnrecognizedClientException", "the access key id is not known")
    signed = match["signed"].split(";")
    if signed != sorted(set(signed)) or "host" not in signed or "x-amz-date" not in signed:
        raise SignatureError(
            "IncompleteSignatureException", "SignedHeaders must be sorted and include host, x-amz-date"
        )

    amz_date = header_map.get("x-amz-date", "")
    try:
        when = dt.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
    except ValueError:
        raise SignatureError("IncompleteSignatureException", "X-Amz-Date is not in ISO 8601 basic format") from None
    if amz_date[:8] != date:
        raise SignatureError("InvalidSignatureException", "credential scope date does not match X-Amz-Date")
    current = now or dt.datetime.now(dt.UTC)
    if abs(current - when) > skew:
        raise SignatureError("InvalidSignatureException", "signature expired or not yet valid (clock skew)")

    body_hash = hashlib.sha256(body).hexdigest()
    claimed = header_map.get("x-amz-content-sha256")
    if claimed is not None and not hmac.compare_digest(claimed, body_hash):
        raise SignatureError("InvalidSignatureException", "payload hash does not match the body")

    canonical_request = "\n".join([
        method.upper(),
        quote(normalize_url_path(raw_path), safe="/~"),
        _canonical_query(query),
        _canonical_headers(headers, signed) + "\n",
        ";".join(signed),
        body_hash,
    ])
    scope = f"{date}/{region}/{service}/aws4_request"
    string_to_sign = "\n".join([
        ALGORITHM, amz_date, scope, hashlib.sha256(canonical_request.encode("utf-8")).hexdigest()
    ])
    expected = hmac.new(
        signing_key(secret, date, region, service), string_to_sign.encode("utf-8"), hashlib.sha256
    ).hexdigest()
    if not hmac.compare_digest(expected, match["sig"]):
        raise SignatureError("InvalidSignatureException", "the request signature does not match")
    return VerifiedRequest(access_key_id=key_id, region=region)


def sign_headers(*, method: str, url: str, body: bytes, headers: Mapping[str, str], access_key_id: str,
                 secret_access_key: str, region: str = "local", service: str = SERVICE) -> dict[str, str]:
    """`headers` plus the SigV4 headers botocore would add (Authorization, X-Amz-Date, and the payload
    hash), for a client of the local endpoint that does not go through boto3 (urllib, requests)."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    request = AWSRequest(method=method, url=url, data=body, headers=dict(headers))
    SigV4Auth(Credentials(access_key_id, secret_access_key), service, region).add_auth(request)
    return dict(request.headers.items())
