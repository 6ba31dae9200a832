"""The local endpoint: uvicorn serving the endpoint app over HTTPS on 127.0.0.1 only.

`start_local_endpoint(model)` runs it in a background thread and returns a handle (`.url`,
`.ca_bundle`, `.stop()`); `serve_forever` runs it in the foreground for `privml serve`. Plain HTTP on
the port gets no HTTP answer: the TLS handshake fails and the connection is closed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import os
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn

from inference.app import EndpointApp
from inference.capture import CaptureConfig, CaptureWriter
from inference.credentials import LocalCredentials, load_or_create_credentials
from inference.limits import KEEP_ALIVE_TIMEOUT, MAX_HEAD_BYTES
from inference.model_source import load_endpoint_model, model_bytes  # noqa: F401 - model_bytes re-exported
from inference.scoring import Scorer
from inference.tls import TlsMaterial, ensure_tls_material, server_context, user_tls_material
from inference.workers import fork_workers, stop_workers
from privml.errors import PrivmlError
from privml.workspace import workspace_dir

log = logging.getLogger("privml.endpoint")
HOST = "127.0.0.1"


def _fast_impls() -> dict[str, Any]:
    """uvloop and httptools when installed (several times faster than asyncio + h11); with httptools the
    request-head limits of inference/limits.py, with h11 its own cap on an incomplete head."""
    impls: dict[str, Any] = {"loop": "asyncio", "http": "h11", "h11_max_incomplete_event_size": MAX_HEAD_BYTES}
    with contextlib.suppress(ImportError):
        import uvloop  # noqa: F401

        impls["loop"] = "uvloop"
    with contextlib.suppress(ImportError):
        from inference.limits import LimitedHttpToolsProtocol

        impls["http"] = LimitedHttpToolsProtocol
    return impls


def _enable_access_log() -> None:
    """`--access-log`: the app's access lines (inference/app.py `AccessLog`) at INFO, to stderr."""
    logger = logging.getLogger("privml.access")
    logger.setLevel(logging.INFO)
    if not logger.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("privml access: %(message)s"))
        logger.addHandler(handler)


# --------------------------------------------------------------------------------------------------
# the server


def _bind(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((HOST, port))
    except OSError as exc:
        sock.close()
        raise PrivmlError(f"cannot listen on {HOST}:{port} ({exc.strerror})") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


class _Server(uvicorn.Server):
    """uvicorn with our TLS context (TLS 1.2 minimum) instead of the one it builds from file names."""

    def __init__(self, config: uvicorn.Config, tls: TlsMaterial) -> None:
        super().__init__(config)
        self._tls = tls

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        if not self.config.loaded:
            self.config.load()
        self.config.ssl = server_context(self._tls)
        await super().serve(sockets=sockets)


@dataclass
class LocalEndpoint:
    """A running local endpoint."""

    name: str
    url: str
    port: int
    ca_bundle: str
    credentials: LocalCredentials
    app: EndpointApp
    _server: _Server
    _thread: threading.Thread | None = None
    _closers: list[Any] = field(default_factory=list)

    def runtime_client(self, region: str = "local") -> Any:
        """A boto3 sagemaker-runtime client for this endpoint (its CA, the workspace's credentials)."""
        import boto3

        return boto3.client(
            "sagemaker-runtime", endpoint_url=self.url, verify=self.ca_bundle, region_name=region,
            aws_access_key_id=self.credentials.access_key_id,
            aws_secret_access_key=self.credentials.secret_access_key,
        )

    def invoke_url(self) -> str:
        return f"{self.url}/endpoints/{self.name}/invocations"

    def signed_headers(self, path: str, body: bytes, headers: dict[str, str] | None = None,
                       method: str = "POST") -> dict[str, str]:
        """Headers that sign a request to `path` with the workspace's credentials (every route that serves
        predictions checks SigV4, `/invocations` included)."""
        from inference.sigv4 import sign_headers

        return sign_headers(method=method, url=f"{self.url}{path}", body=body, headers=headers or {},
                            access_key_id=self.credentials.access_key_id,
                            secret_access_key=self.credentials.secret_access_key)

    def stop(self) -> None:
        self._server.should_exit = True
        self._server.force_exit = True  # do not wait for idle keep-alive clients to hang up
        if self._thread is not None:
            self._thread.join(timeout=10)
        for close in self._closers:
            close()
        self._closers.clear()

    def __enter__(self) -> LocalEndpoint:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _check_name(name: str) -> None:
    if not name or not all(c.isalnum() or c == "-" for c in name) or len(name) > 63:
        raise PrivmlError("endpoint name must be 1-63 letters, digits or hyphens")


def _build(model: Any, *, workspace: str | os.PathLike[str] | None, port: int, name: str,
           capture: CaptureConfig | None, certfile: str | None, keyfile: str | None,
           noop: bool, access_log: bool, threaded_model: bool,
           sock: socket.socket | None = None, compiled: bool = True,
           pipeline: str = "thread") -> tuple[LocalEndpoint, socket.socket]:
    ws = workspace_dir(workspace)
    _check_name(name)
    tls = user_tls_material(certfile, keyfile) if certfile and keyfile else ensure_tls_material(ws)
    creds = load_or_create_credentials(ws)
    scorer = None if noop else Scorer(load_endpoint_model(model, ws), threaded=threaded_model, compiled=compiled,
                                      pipeline=pipeline)
    capture = capture if capture is not None else CaptureConfig()
    writer = CaptureWriter(name, capture, ws) if capture.enabled else None  # no-op too: capture is the stack's
    app = EndpointApp(name=name, scorer=scorer, capture=writer,
                      secrets=lambda: {creds.access_key_id: creds.secret_access_key}, noop=noop,
                      access_log=access_log)
    if access_log:
        _enable_access_log()
    sock = sock if sock is not None else _bind(port)
    actual = sock.getsockname()[1]
    # uvicorn's own access log is off: it writes the raw path and query, which may carry values
    config = uvicorn.Config(
        app.app, log_level="warning", access_log=False, lifespan="off",
        ssl_certfile=str(tls.certfile), ssl_keyfile=str(tls.keyfile), ssl_keyfile_password=tls.key_password,
        timeout_keep_alive=KEEP_ALIVE_TIMEOUT, timeout_graceful_shutdown=3, server_header=False, **_fast_impls(),
    )
    server = _Server(config, tls)
    handle = LocalEndpoint(name, f"https://localhost:{actual}", actual, str(tls.ca_bundle), creds, app, server)
    if writer is not None:
        handle._closers.append(writer.close)
    if scorer is not None:
        handle._closers.append(scorer.close)
    return handle, sock


def start_local_endpoint(
    model_uri_or_path: Any,
    *,
    workspace: str | os.PathLike[str] | None = None,
    port: int = 0,
    name: str = "privml",
    capture: CaptureConfig | None = None,
    certfile: str | None = None,
    keyfile: str | None = None,
    noop: bool = False,
    access_log: bool = False,
    startup_timeout: float = 15.0,
) -> LocalEndpoint:
    """Serve the model over HTTPS on 127.0.0.1 in a background thread; returns once it accepts."""
    handle, sock = _build(model_uri_or_path, workspace=workspace, port=port, name=name, capture=capture,
                          certfile=certfile, keyfile=keyfile, noop=noop, access_log=access_log,
                          threaded_model=True)
    server = handle._server

    def run() -> None:
        # the loop policy comes from config (uvloop when available); a thread needs its own loop
        loop = asyncio.new_event_loop()
        try:
            if server.config.loop == "uvloop":
                import uvloop

                loop.close()
                loop = uvloop.new_event_loop()
            loop.run_until_complete(server.serve(sockets=[sock]))
        finally:
            loop.close()
            sock.close()

    thread = threading.Thread(target=run, name=f"privml-endpoint-{name}", daemon=True)
    handle._thread = thread
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            handle.stop()
            raise PrivmlError("the local endpoint did not start")
        time.sleep(0.01)
    return handle


def _tune_for_serving() -> None:
    """A dedicated server process: the loaded model is long-lived (freeze it out of the collector's
    scans), requests allocate many short-lived objects (collect young generations less often), and the
    event loop should get the GIL back from the model thread quickly."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 50, 100)
    sys.setswitchinterval(0.0005)


def serve_forever(model: Any, *, workspace: str | os.PathLike[str] | None = None, port: int = 8443,
                  name: str = "privml", capture: CaptureConfig | None = None, certfile: str | None = None,
                  keyfile: str | None = None, noop: bool = False, access_log: bool = False,
                  ready_file: str | None = None, announce: Any = None, workers: int = 1,
                  compiled: bool = True, pipeline: str = "process") -> None:
    """Run in the foreground until interrupted (`privml serve`), in `workers` processes (inference/workers.py).
    A dedicated server process runs the fallback pipeline in worker processes (`pipeline="process"`,
    inference/pipeline_pool.py), so that it never holds the event loop's GIL."""
    if workers < 1:
        raise PrivmlError("--workers must be at least 1")
    _check_name(name)
    settings = {"workspace": workspace, "name": name, "capture": capture, "certfile": certfile,
                "keyfile": keyfile, "noop": noop, "access_log": access_log, "compiled": compiled,
                "pipeline": pipeline}
    sock = _bind(port)
    pids: list[int] = []
    try:
        if workers > 1:
            _prepare_shared_state(**settings)
            pids = fork_workers(workers - 1, lambda: _serve_socket(model, sock, settings))
        _serve_socket(model, sock, settings, ready_file=ready_file, announce=announce)
    finally:
        stop_workers(pids)
        sock.close()


def _prepare_shared_state(*, workspace: str | os.PathLike[str] | None, name: str, capture: CaptureConfig | None,
                          certfile: str | None, keyfile: str | None, **_: Any) -> None:
    """What every worker reads from the workspace, created once, before the fork."""
    ws = workspace_dir(workspace)
    if not (certfile and keyfile):
        ensure_tls_material(ws)
    load_or_create_credentials(ws)
    capture = capture if capture is not None else CaptureConfig()
    if capture.enabled:
        CaptureWriter(name, capture, ws)  # creates the endpoint's capture key if it is new


def _serve_socket(model: Any, sock: socket.socket, settings: dict[str, Any], *, ready_file: str | None = None,
                  announce: Any = None) -> None:
    handle, _ = _build(model, port=0, threaded_model=True, sock=sock, **settings)
    if announce is not None:
        announce(handle)
    _tune_for_serving()
    if ready_file:
        Path(ready_file).write_text(f"{handle.port}\n{handle.ca_bundle}\n")
    try:
        handle._server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    finally:
        scorer = handle.app.scorer
        if scorer is not None and scorer.calls:
            counts = scorer.counters()
            fallbacks = ", ".join(f"{reason}: {n}" for reason, n in sorted(counts["fallbacks"].items())) or "none"
            log.warning("served %d request(s) in %d model call(s): %.1f request(s) per call; %d compiled, "
                        "%d pipeline call(s) (%s); fallbacks by reason: %s",
                        scorer.requests, scorer.calls, scorer.requests / scorer.calls, counts["compiled_calls"],
                        counts["pipeline_calls"], counts["pipeline"], fallbacks)
        for close in handle._closers:
            close()


def main(argv: list[str] | None = None) -> int:
    """`python -m inference.server`: the benchmark's server process (also for the no-op ceiling)."""
    parser = argparse.ArgumentParser(prog="python -m inference.server")
    parser.add_argument("model", nargs="?", default=None)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--name", default="privml")
    parser.add_argument("--noop", action="store_true")
    parser.add_argument("--capture", default="Output", help="Input, Output, Input,Output or none")
    parser.add_argument("--ready-file")
    parser.add_argument("--workers", type=int, default=1, help="server processes (default 1)")
    parser.add_argument("--model-factory", help="module:function returning a fitted Pipeline (benchmarks)")
    parser.add_argument("--force-pipeline", action="store_true",
                        help="score every request with the pipeline, never the compiled form (benchmarks)")
    parser.add_argument("--pipeline", choices=("process", "thread"), default="process",
                        help="where the fallback pipeline runs: worker processes (default) or a model thread")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="privml: %(message)s")
    model: Any = args.model
    if args.model_factory:
        import importlib

        module, _, func = args.model_factory.partition(":")
        model = getattr(importlib.import_module(module), func)()
    if model is None and not args.noop:
        parser.error("a model (path, or --model-factory) is required unless --noop")
    serve_forever(model, port=args.port, name=args.name, noop=args.noop,
                  capture=CaptureConfig.from_options(args.capture), ready_file=args.ready_file, workers=args.workers,
                  compiled=not args.force_pipeline, pipeline=args.pipeline)
    return 0


if __name__ == "__main__":
    sys.exit(main())
