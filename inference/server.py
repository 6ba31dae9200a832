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
import io
import logging
import os
import socket
import sys
import tarfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn

from inference.app import EndpointApp
from inference.capture import CaptureConfig, CaptureWriter
from inference.credentials import LocalCredentials, load_or_create_credentials
from inference.handler import check_model
from inference.scoring import Scorer
from inference.tls import TlsMaterial, ensure_tls_material, server_context, user_tls_material
from inference.workers import fork_workers, stop_workers
from privml.errors import PrivmlError
from privml.workspace import workspace_dir

log = logging.getLogger("privml.endpoint")
HOST = "127.0.0.1"


def _fast_impls() -> dict[str, str]:
    """uvloop and httptools when installed (several times faster than asyncio + h11)."""
    impls = {"loop": "asyncio", "http": "h11"}
    with contextlib.suppress(ImportError):
        import uvloop  # noqa: F401

        impls["loop"] = "uvloop"
    with contextlib.suppress(ImportError):
        import httptools  # noqa: F401

        impls["http"] = "httptools"
    return impls


# --------------------------------------------------------------------------------------------------
# model location → loaded model


MODEL_FILE = "model.skops"
_MAX_MODEL_BYTES = 2 << 30


def _skops_from_archive(data: bytes, source: str) -> bytes:
    """model.skops out of a model.tar.gz held in memory (nothing decrypted is written to disk)."""
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
            for member in tar.getmembers():
                if member.isfile() and Path(member.name).as_posix().lstrip("./") == MODEL_FILE:
                    if member.size > _MAX_MODEL_BYTES:
                        raise PrivmlError(f"{source}: {MODEL_FILE} is too large")
                    handle = tar.extractfile(member)
                    if handle is not None:
                        return handle.read()
    except tarfile.TarError:
        raise PrivmlError(f"{source}: not a readable model archive") from None
    raise PrivmlError(f"{source}: no {MODEL_FILE} at the top of the archive")


def _model_bytes_from_store(uri: str, workspace: Path) -> bytes:
    """The model from the local object store: a model.tar.gz object or a model directory prefix."""
    from privml.crypto.objectstore import LocalObjectStore

    store = LocalObjectStore.open(workspace)
    candidates = [uri] if not uri.endswith("/") else []
    candidates.append(uri.rstrip("/") + "/" + MODEL_FILE)
    for candidate in candidates:
        try:
            data = store.get_bytes(candidate)
        except PrivmlError:
            continue
        return data if candidate.endswith(MODEL_FILE) else _skops_from_archive(data, uri)
    raise PrivmlError(f"model not found in the local object store: {uri}")


def model_bytes(model: str | os.PathLike[str], workspace: Path) -> tuple[bytes, str]:
    """The skops bytes of a model given as a directory, model.skops, model.tar.gz or s3:// URI."""
    text = str(model)
    if text.startswith("s3://"):
        return _model_bytes_from_store(text, workspace), text
    path = Path(text)
    if path.is_dir():
        path = path / MODEL_FILE
    if not path.is_file():
        raise PrivmlError(f"model not found: {text}")
    data = path.read_bytes()
    return (data if path.name.endswith(".skops") else _skops_from_archive(data, text)), text


def load_endpoint_model(model: Any, workspace: Path) -> Any:
    """`model` is a location (see `model_bytes`) or an already loaded Pipeline; either way it is checked
    to start with the privacy step."""
    if isinstance(model, str | os.PathLike):
        from privml.models.persistence import loads_model

        data, source = model_bytes(model, workspace)
        return check_model(loads_model(data, source))
    return check_model(model, require_privacy_transformer=False)


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
           sock: socket.socket | None = None) -> tuple[LocalEndpoint, socket.socket]:
    ws = workspace_dir(workspace)
    _check_name(name)
    tls = user_tls_material(certfile, keyfile) if certfile and keyfile else ensure_tls_material(ws)
    creds = load_or_create_credentials(ws)
    scorer = None if noop else Scorer(load_endpoint_model(model, ws), threaded=threaded_model)
    capture = capture if capture is not None else CaptureConfig()
    writer = CaptureWriter(name, capture, ws) if capture.enabled else None  # no-op too: capture is the stack's
    app = EndpointApp(name=name, scorer=scorer, capture=writer,
                      secrets=lambda: {creds.access_key_id: creds.secret_access_key}, noop=noop)
    sock = sock if sock is not None else _bind(port)
    actual = sock.getsockname()[1]
    config = uvicorn.Config(
        app.app, log_level="warning", access_log=access_log, lifespan="off",
        ssl_certfile=str(tls.certfile), ssl_keyfile=str(tls.keyfile),
        timeout_keep_alive=30, timeout_graceful_shutdown=3, server_header=False, **_fast_impls(),
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
    sys.setswitchinterval(0.001)


def serve_forever(model: Any, *, workspace: str | os.PathLike[str] | None = None, port: int = 8443,
                  name: str = "privml", capture: CaptureConfig | None = None, certfile: str | None = None,
                  keyfile: str | None = None, noop: bool = False, access_log: bool = False,
                  ready_file: str | None = None, announce: Any = None, workers: int = 1) -> None:
    """Run in the foreground until interrupted (`privml serve`), in `workers` processes (inference/workers.py)."""
    if workers < 1:
        raise PrivmlError("--workers must be at least 1")
    _check_name(name)
    settings = {"workspace": workspace, "name": name, "capture": capture, "certfile": certfile,
                "keyfile": keyfile, "noop": noop, "access_log": access_log}
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
            log.warning("served %d request(s) in %d model call(s): %.1f request(s) per call",
                        scorer.requests, scorer.calls, scorer.requests / scorer.calls)
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
                  capture=CaptureConfig.from_options(args.capture), ready_file=args.ready_file, workers=args.workers)
    return 0


if __name__ == "__main__":
    sys.exit(main())
