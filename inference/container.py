"""The SageMaker serving-container contract, as the privml image serves it (`serve` runs
`python -m inference.container`), and as `privml run --local` loads the model artifact.

- `GET /ping`: 200 once the model is loaded.
- `POST /invocations`: one request through the artifact's serving program (`respond`): the status it
  chose (413, 415, 400, 406, 503, 500) and a message that quotes nothing from the request.

Plain HTTP on `SAGEMAKER_BIND_TO_PORT` (8080): on AWS the SageMaker front end terminates TLS; `run
--local` hands in the workspace's certificate instead. The model comes from `<SAGEMAKER_BASE_DIR or
/opt/ml>/model`, the program from `SAGEMAKER_SUBMIT_DIRECTORY` (`<model>/code`) by `SAGEMAKER_PROGRAM`,
as the framework containers load it: a copy of the code directory, the module imported by name. The
privml image has privml installed, so nothing is pip-installed here; the stock images install it from
the artifact's requirements.txt (see inference/privml_inference.py).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import io
import logging
import os
import shutil
import socket
import sys
import tarfile
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from privml.errors import PrivmlError

log = logging.getLogger("privml.endpoint")
DEFAULT_PORT = 8080
BASE_DIR = "/opt/ml"


def shadowing_module(name: str, code_dir: Path) -> str | None:
    """Where an installed module or package of this name lives when it is not the program in code_dir:
    the framework containers import the program by name, and an installed `name` wins."""
    loaded = sys.modules.pop(name, None)  # a program loaded before (another code directory) is no installed module
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    finally:
        if loaded is not None:
            sys.modules[name] = loaded
    if spec is None:
        return None
    origin = Path(spec.origin) if spec.origin and spec.origin not in ("built-in", "frozen") else None
    if origin is not None and origin.resolve().parent == code_dir.resolve():
        return None
    return str(origin or spec.name)


def load_program(code_dir: Path, program: str) -> ModuleType:
    """Import `program` (SAGEMAKER_PROGRAM) from code_dir as the containers do; refuse a shadowed name or
    a module without the functions the contract needs."""
    name = program.removesuffix(".py")
    path = code_dir / f"{name}.py"
    if not name.isidentifier() or not path.is_file():
        raise PrivmlError(f"SAGEMAKER_PROGRAM={program}: no such module in the code directory")
    shadow = shadowing_module(name, code_dir)
    if shadow is not None:
        raise PrivmlError(f"SAGEMAKER_PROGRAM={program}: the container would import the installed {shadow} "
                          f"instead; name the program something nothing installed is called")
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    missing = [fn for fn in ("model_fn", "transform_fn", "respond") if not callable(getattr(module, fn, None))]
    if missing:
        raise PrivmlError(f"SAGEMAKER_PROGRAM={program}: the module has no {', '.join(missing)}")
    return module


def copy_code_dir(submit_dir: Path, code_dir: Path) -> Path:
    """The toolkit's first step: the submit directory copied to the container's code directory."""
    if not submit_dir.is_dir():
        raise PrivmlError(f"SAGEMAKER_SUBMIT_DIRECTORY {submit_dir}: not a directory")
    shutil.copytree(submit_dir, code_dir, dirs_exist_ok=True)
    return code_dir


def unpack_artifact(archive: bytes, base: Path) -> Path:
    """model.tar.gz into <base>/model, as SageMaker unpacks ModelDataUrl before the container starts."""
    model_dir = base / "model"
    model_dir.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:*") as tar:
            tar.extractall(model_dir, filter="data")
    except (tarfile.TarError, OSError) as exc:
        raise PrivmlError(f"the model archive cannot be unpacked ({type(exc).__name__})") from None
    return model_dir


def check_offline_requirements(code_dir: Path) -> list[str]:
    """What the toolkit's `pip install . -r requirements.txt` would install, checked for a container with
    no network: `--no-index`, a `--find-links` directory inside code/, a wheel there for each pin.
    Returns the pinned requirements."""
    path = code_dir / "requirements.txt"
    if not path.is_file():
        raise PrivmlError("the model's code/ has no requirements.txt: the serving container could not install privml")
    lines = [ln.split("#", 1)[0].strip() for ln in path.read_text(encoding="utf-8").splitlines()]
    lines = [ln for ln in lines if ln]
    links = [ln.split(None, 1)[1] for ln in lines if ln.startswith("--find-links ")]
    if "--no-index" not in lines or len(links) != 1:
        raise PrivmlError("code/requirements.txt: needs --no-index and one --find-links (no network when serving)")
    wheels = (code_dir / links[0]).resolve()
    if not wheels.is_dir() or not wheels.is_relative_to(code_dir.resolve()):
        raise PrivmlError("code/requirements.txt: --find-links is not a directory inside code/")
    pins = [ln for ln in lines if not ln.startswith("-")]
    for pin in pins:
        name, _, version = pin.partition("==")
        stem = name.strip().replace("-", "_").lower()
        if not any(w.name.lower().startswith(f"{stem}-{version.strip()}-") for w in wheels.glob("*.whl")):
            raise PrivmlError(f"code/requirements.txt: no wheel for {pin} in {links[0]}/")
    return pins


def load_artifact(base: Path, environment: Mapping[str, str], *, offline_install: bool = True) -> ContainerApp:
    """The container's start, after SageMaker unpacked the artifact into <base>/model: the submit
    directory copied to <base>/code, its requirements checked for an offline install (stock images;
    the privml image installs nothing), the program imported by name, `model_fn` run."""
    model_dir = base / "model"
    submit = environment.get("SAGEMAKER_SUBMIT_DIRECTORY", f"{BASE_DIR}/model/code")
    submit_dir = base / Path(submit).relative_to(BASE_DIR) if submit.startswith(f"{BASE_DIR}/") else Path(submit)
    code_dir = base / "code"
    if submit_dir.resolve() != code_dir.resolve():
        copy_code_dir(submit_dir, code_dir)
    if offline_install:
        check_offline_requirements(code_dir)
    program = load_program(code_dir, environment.get("SAGEMAKER_PROGRAM", ""))
    return ContainerApp(program, program.model_fn(str(model_dir)))


@dataclass
class ContainerApp:
    program: ModuleType
    model: Any
    max_payload: int = 6 * 1024 * 1024
    app: Starlette = field(init=False)

    def __post_init__(self) -> None:
        self.app = Starlette(routes=[
            Route("/ping", self.ping, methods=["GET"]),
            Route("/invocations", self.invocations, methods=["POST"]),
        ])

    async def ping(self, request: Request) -> Response:
        return Response(b"", status_code=200)

    async def invocations(self, request: Request) -> Response:
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > self.max_payload:  # stop reading here rather than hold the rest
                log.warning("invocation refused: 413 payload exceeds %d bytes", self.max_payload)
                return JSONResponse({"error": f"payload exceeds {self.max_payload} bytes"}, status_code=413)
            chunks.append(chunk)
        headers = request.headers
        reply = await asyncio.to_thread(self.program.respond, self.model, b"".join(chunks),
                                        headers.get("content-type"), headers.get("accept"),
                                        max_payload=self.max_payload)
        return Response(reply.body, status_code=reply.status, media_type=reply.content_type)


def _config(app: ContainerApp, **kwargs: Any) -> uvicorn.Config:
    # no access log: the request line is harmless, but the container's log is CloudWatch's; keep it to
    # the handler's own value-free lines
    return uvicorn.Config(app.app, log_level="warning", access_log=False, lifespan="off",
                          server_header=False, **kwargs)


@dataclass
class RunningContainer:
    url: str
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def start_container(app: ContainerApp, *, host: str = "127.0.0.1", port: int = 0,
                    certfile: str | None = None, keyfile: str | None = None,
                    startup_timeout: float = 15.0) -> RunningContainer:
    """Serve in a background thread (run --local, tests) on loopback; returns once it accepts."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    server = uvicorn.Server(_config(app, ssl_certfile=certfile, ssl_keyfile=keyfile))
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True,
                              name="privml-container")
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            sock.close()
            raise PrivmlError("the serving container did not start")
        time.sleep(0.01)
    scheme = "https" if certfile else "http"
    return RunningContainer(f"{scheme}://{host}:{sock.getsockname()[1]}", server, thread)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m inference.container", description=__doc__.split("\n")[0])
    # SageMaker sends /ping and /invocations to the container's address, not to loopback
    parser.add_argument("--host", default="0.0.0.0")  # noqa: S104
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    base = Path(os.environ.get("SAGEMAKER_BASE_DIR", BASE_DIR))
    port = int(os.environ.get("SAGEMAKER_BIND_TO_PORT", DEFAULT_PORT))
    environment = {"SAGEMAKER_PROGRAM": "privml_inference.py", **os.environ}
    try:
        app = load_artifact(base, environment, offline_install=False)  # the privml image holds privml
    except PrivmlError as exc:
        print(f"privml serving container: {exc}", file=sys.stderr)
        return exc.exit_code
    log.info("serving %s on port %d", base / "model", port)
    uvicorn.Server(_config(app, host=args.host, port=port)).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
