"""The endpoint's ASGI app (starlette).

- `POST /endpoints/{name}/invocations`: the SageMaker runtime API, SigV4-authenticated against the
  workspace's local credentials (403 when unsigned or wrongly signed), AWS-style JSON errors so
  botocore raises the usual `ClientError`s.
- `GET /ping`, `POST /invocations`: the serving-container contract.

Payloads over 6 MB → 413; bad input → 4xx with a message that names the problem and echoes no input
value. Logs hold status codes and problem descriptions, never bodies or header values.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from inference.capture import CaptureWriter
from inference.handler import (
    CSV,
    InvalidInput,
    choose_accept,
    media_type,
    output_fn,
    parse_payload,
)
from inference.scoring import ModelFailed, Scorer
from inference.sigv4 import SignatureError, verify
from privml.errors import KeyUnavailable

log = logging.getLogger("privml.endpoint")
MAX_PAYLOAD = 6 * 1024 * 1024  # SageMaker real-time endpoints: 6 MB per request
_OFFLOAD_PARSE = 256 * 1024  # parse big bodies off the event loop
VARIANT = "AllTraffic"


class _TooLarge(Exception):
    pass


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > limit:
                raise _TooLarge
        except ValueError:
            raise InvalidInput("Content-Length is not a number") from None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _header(request: Request, name: bytes) -> str | None:
    """A header that is usually absent: starlette's lookup raises and catches KeyError on a miss."""
    for key, value in request.scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None


def _aws_error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"message": message}, status_code=status, headers={"x-amzn-ErrorType": code})


def _plain_error(status: int, message: str) -> Response:
    return JSONResponse({"error": message}, status_code=status)


class EndpointApp:
    """Holds the model, credentials and capture writer; builds the starlette app."""

    def __init__(self, *, name: str, scorer: Scorer | None, secrets: Callable[[], Mapping[str, str]],
                 capture: CaptureWriter | None = None, max_payload: int = MAX_PAYLOAD,
                 noop: bool = False) -> None:
        self.name = name
        self.scorer = scorer
        self.secrets = secrets
        self.capture = capture
        self.max_payload = max_payload
        self.noop = noop  # the benchmark's ceiling: the same stack (TLS, HTTP, auth, capture), no handler
        self.stats = {"requests": 0, "errors_4xx": 0, "errors_5xx": 0}
        self.app = Starlette(routes=[
            Route("/ping", self.ping, methods=["GET"]),
            Route("/invocations", self.invocations, methods=["POST"]),
            Route("/endpoints/{name}/invocations", self.runtime_invocations, methods=["POST"]),
        ])

    async def ping(self, request: Request) -> Response:
        ready = self.noop or self.scorer is not None
        return Response(b"", status_code=200 if ready else 503)

    async def invocations(self, request: Request) -> Response:
        return await self._invoke(request, aws=False)

    async def runtime_invocations(self, request: Request) -> Response:
        return await self._invoke(request, aws=True)

    def _error(self, aws: bool, status: int, code: str, message: str) -> Response:
        self.stats["errors_5xx" if status >= 500 else "errors_4xx"] += 1
        log.warning("%s %d %s: %s", "runtime" if aws else "container", status, code, message)
        return _aws_error(status, code, message) if aws else _plain_error(status, message)

    async def _invoke(self, request: Request, *, aws: bool) -> Response:
        self.stats["requests"] += 1
        try:
            return await self._invoke_checked(request, aws=aws)
        except _TooLarge:
            return self._error(aws, 413, "ValidationError", f"payload exceeds {self.max_payload} bytes")
        except SignatureError as exc:
            return self._error(aws, 403, exc.code, str(exc))
        except InvalidInput as exc:
            return self._error(aws, exc.status, "ValidationError", str(exc))
        except KeyUnavailable:
            return self._error(aws, 503, "ServiceUnavailable", "the endpoint cannot use its privacy keys")
        except ModelFailed as exc:
            # input parsed but the model could not score it: still the request's fault, not the server's
            return self._error(aws, 400, "ModelError", f"the model could not score the request ({exc})")
        except Exception as exc:  # a bug: keep the server up, log only the exception type
            log.error("internal error handling a request: %s", type(exc).__name__)
            return self._error(aws, 500, "InternalFailure", "internal error")

    async def _invoke_checked(self, request: Request, *, aws: bool) -> Response:
        if aws and "authorization" not in request.headers:
            raise SignatureError("MissingAuthenticationTokenException", "missing Authorization header")
        body = await _read_body(request, self.max_payload)
        headers: dict[str, str] = {}
        if aws:
            if request.path_params["name"] != self.name:
                # authenticate first so that endpoint names are not discoverable without credentials
                self._verify(request, body)
                raise InvalidInput("endpoint not found")
            self._verify(request, body)
            headers["x-Amzn-Invoked-Production-Variant"] = VARIANT
        content_type = request.headers.get("content-type")
        if not content_type:
            raise InvalidInput("missing Content-Type; send text/csv or application/json")
        accept = choose_accept(request.headers.get("accept"), content_type)
        if self.noop:
            payload, out_type = b"0\n", CSV
        else:
            payload, out_type = await self._predict(body, content_type, accept)
        if self.capture is not None and self.capture.sampled():
            self.capture.record(request=body, request_type=media_type(content_type) or content_type,
                                response=payload, response_type=out_type,
                                inference_id=_header(request, b"x-amzn-sagemaker-inference-id"))
        return Response(payload, media_type=out_type, headers=headers)

    async def _predict(self, body: bytes, content_type: str, accept: str) -> tuple[bytes, str]:
        """The handler: input_fn, predict_fn, output_fn. Returns the response body and its type."""
        assert self.scorer is not None
        if len(body) > _OFFLOAD_PARSE:
            batch = await asyncio.to_thread(parse_payload, body, content_type, self.scorer.plan)
        else:
            batch = parse_payload(body, content_type, self.scorer.plan)
        prediction = await self.scorer.score(batch)
        text, out_type = output_fn(prediction, accept)
        return text.encode("utf-8"), out_type

    def _verify(self, request: Request, body: bytes) -> None:
        verify(
            method=request.method,
            raw_path=request.scope.get("raw_path", request.url.path.encode()).decode("latin-1"),
            query=request.scope.get("query_string", b"").decode("latin-1"),
            headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.scope["headers"]],
            body=body,
            secrets=self.secrets(),
        )


def build_app(**kwargs: Any) -> EndpointApp:
    return EndpointApp(**kwargs)
