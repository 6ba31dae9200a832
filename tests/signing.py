"""SigV4 for `requests` in tests: every route of the local endpoint that serves predictions checks it."""

from __future__ import annotations

from typing import Any

import requests

from inference.sigv4 import sign_headers


class SigV4(requests.auth.AuthBase):
    """Signs a prepared request with local endpoint credentials (Content-Type and Accept signed too)."""

    def __init__(self, credentials: Any, region: str = "local") -> None:
        self.credentials = credentials
        self.region = region

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode("utf-8")
        signed = {k: v for k, v in request.headers.items() if k.lower() in ("content-type", "accept")}
        request.headers.update(sign_headers(
            method=request.method or "POST", url=request.url or "", body=body, headers=signed,
            access_key_id=self.credentials.access_key_id,
            secret_access_key=self.credentials.secret_access_key, region=self.region))
        return request
