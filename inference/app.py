"""The endpoint's ASGI app (starlette).

- `POST /endpoints/{name}/invocations`: the SageMaker runtime API, SigV4-authenticated against the
  workspace's local credentials (403 when unsigned or wrongly signed), AWS-style JSON errors so
  botocore raises the usual `ClientError`s.
- `GET /ping`, `POST /invocations`: the serving-container contract. On the HTTPS listener
  `/invocations` is SigV4-checked like the runtime route (it serves predictions); only the optional
  plain loopback listener (`contract_unsigned=True`, off by default) answers it unsigned.

Payloads over 6 MB → 413 (a declared Content-Length is refused before any byte of the body is read);
a body not received within `body_timeout` → 408; more than `MAX_HEADERS` header fields → 431; a client
that hangs up is counted as a disconnect, not an error. Bad input → 4xx with a message that names the
problem and echoes no input value. Logs hold status codes and problem descriptions, never bodies or
header values; the access log (`AccessLog`) holds method, route, status, size and latency.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
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
MAX_HEADERS = 100  # header fields per request (nginx, Apache and Go's servers allow about as many)
BODY_TIMEOUT = 30.0  # seconds to receive a whole body once its headers are in
_OFFLOAD_PARSE = 256 * 1024  # parse big bodies off the event loop
VARIANT = "AllTraffic"


class _TooLarge(Exception):
    pass


class _TooManyHeaders(Exception):
    pass


class _BodyTimeout(Exception):
    pass


async def _read_body(request: Request, limit: int, timeout: float) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit() or len(declared) > 18:
            raise InvalidInput("Content-Length is not a number")
        if int(declared) > limit:
            raise _TooLarge
    chunks, size = [], 0
    try:
        async with asyncio.timeout(timeout):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise _TooLarge
                chunks.append(chunk)
    except TimeoutError:
        raise _BodyTimeout from None
    return b"".join(chunks)


def _header(request: Request, name: bytes) -> str | None:
    """A header that is usually absent: starlette's lookup raises and catches KeyError on a miss."""
    for key, value in request.scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None


def _aws_error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"message": message}, status_code=status, headers={"x-amzn-ErrorType": code})


def _closing(response: Response) -> Response:
    response.headers["connection"] = "close"
    return response


def _plain_error(status: int, message: str) -> Response:
    return JSONResponse({"error": message}, status_code=status)


class EndpointApp:
    """Holds the model, credentials and capture writer; builds the starlette app."""

    def __init__(self, *, name: str, scorer: Scorer | None, secrets: Callable[[], Mapping[str, str]],
                 capture: CaptureWriter | None = None, max_payload: int = MAX_PAYLOAD,
                 noop: bool = False, contract_unsigned: bool = False, body_timeout: float = BODY_TIMEOUT,
                 access_log: bool = False) -> None:
        self.name = name
        self.scorer = scorer
        self.secrets = secrets
        self.capture = capture
        self.max_payload = max_payload
        self.body_timeout = body_timeout
        self.noop = noop  # the benchmark's ceiling: the same stack (TLS, HTTP, auth, capture), no handler
        # the plain loopback listener's app: the container contract only, unsigned, as SageMaker's is
        self.contract_unsigned = contract_unsigned
        self.stats = {"requests": 0, "errors_4xx": 0, "errors_5xx": 0, "disconnects": 0}
        routes = [Route("/ping", self.ping, methods=["GET"]),
                  Route("/invocations", self.invocations, methods=["POST"])]
        if not contract_unsigned:
            routes.append(Route("/endpoints/{name}/invocations", self.runtime_invocations, methods=["POST"]))
        starlette = Starlette(routes=routes)
        self.app: Any = AccessLog(starlette) if access_log else starlette

    def counters(self) -> dict[str, Any]:
        """Requests, errors and disconnects, and the served model's calls per path and fallbacks by
        reason (`ServedModel.counters`): counts only, never a value. The server logs them when it stops."""
        return {**self.stats, **(self.scorer.counters() if self.scorer is not None else {})}

    async def ping(self, request: Request) -> Response:
        ready = self.noop or self.scorer is not None
        return Response(b"", status_code=200 if ready else 503)

    async def invocations(self, request: Request) -> Response:
        return await self._invoke(request, aws=False, signed=not self.contract_unsigned)

    async def runtime_invocations(self, request: Request) -> Response:
        return await self._invoke(request, aws=True, signed=True)

    def _error(self, aws: bool, status: int, code: str, message: str) -> Response:
        self.stats["errors_5xx" if status >= 500 else "errors_4xx"] += 1
        # a refused request is the client's problem: INFO (a flood of them must not become a flood of warnings,
        # nor cost the event loop a write each); a 5xx is ours
        log.log(logging.ERROR if status >= 500 else logging.INFO, "%s %d %s: %s",
                "runtime" if aws else "container", status, code, message)
        return _aws_error(status, code, message) if aws else _plain_error(status, message)

    async def _invoke(self, request: Request, *, aws: bool, signed: bool) -> Response:
        self.stats["requests"] += 1
        try:
            return await self._invoke_checked(request, aws=aws, signed=signed)
        except ClientDisconnect:
            # the client hung up mid-body: nobody reads an answer, and it is not the server's failure
            self.stats["disconnects"] += 1
            return Response(b"", status_code=499)  # nginx's "client closed request"; never sent
        except _TooManyHeaders:
            return self._error(aws, 431, "ValidationError", f"more than {MAX_HEADERS} header fields")
        except _BodyTimeout:
            return _closing(self._error(aws, 408, "ValidationError",
                                        f"body not received within {self.body_timeout:g} s"))
        except _TooLarge:  # the rest of the body is never read: the connection cannot carry another request
            return _closing(self._error(aws, 413, "ValidationError", f"payload exceeds {self.max_payload} bytes"))
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

    async def _invoke_checked(self, request: Request, *, aws: bool, signed: bool) -> Response:
        if len(request.scope["headers"]) > MAX_HEADERS:
            raise _TooManyHeaders
        if signed and _header(request, b"authorization") is None:
            raise SignatureError("MissingAuthenticationTokenException", "missing Authorization header")
        body = await _read_body(request, self.max_payload, self.body_timeout)
        headers: dict[str, str] = {}
        if signed and not aws:
            self._verify(request, body)
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


# --------------------------------------------------------------------------------------------------
# access log

access_log = logging.getLogger("privml.access")
_ROUTES = {"/ping": "/ping", "/invocations": "/invocations"}
_METHODS = frozenset({"GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH"})


def route_name(path: str) -> str:
    """The route a path matched, as its template: never the path itself (it may carry a name or a value)."""
    known = _ROUTES.get(path)
    if known is not None:
        return known
    if path.startswith("/endpoints/") and path.endswith("/invocations"):
        return "/endpoints/{name}/invocations"
    return "(other)"


class AccessLog:
    """ASGI middleware: one line per request, `method route status bytes ms`. The route is the matched
    template and the method one of HTTP's own names, so no byte of the request's path, query, headers or
    body reaches the log."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status, size = 0, 0

        async def sending(message: dict[str, Any]) -> None:
            nonlocal status, size
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                size += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            method = scope.get("method", "")
            access_log.info("%s %s %s %d %.1fms", method if method in _METHODS else "(other)",
                            route_name(scope.get("path", "")), status or "-", size,
                            (time.perf_counter() - started) * 1000)

