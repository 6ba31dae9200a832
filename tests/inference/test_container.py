"""The container contract server (inference/container.py) and the handler's `respond`: the artifact
loaded the way the serving container loads it, every bad request its 4xx, no request value anywhere."""

from __future__ import annotations

import io
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pandas as pd
import pytest
from sklearn.pipeline import Pipeline

import inference.handler as handler
from inference.container import (
    check_offline_requirements,
    load_artifact,
    load_program,
    start_container,
    unpack_artifact,
)
from pipelines import packaging
from pipelines.definition import SERVING_ENV
from privml.errors import KeyUnavailable, PrivmlError
from privml.models import training
from tests.inference.conftest import CANARIES, save_model_dir
from tests.inference.model_factory import LABEL, raw_table

REPO = Path(__file__).resolve().parents[2]


def _artifact(model: Pipeline, tmp: Path, model_workspace: Path) -> bytes:
    """model.tar.gz as the training job writes it: the model file, the program, its requirements and the
    job's wheels (here: the privml wheel)."""
    model_dir = save_model_dir(model, tmp / "job-model", model_workspace)
    wheels = tmp / "job-wheels"
    packaging.build_privml_wheel(wheels)
    outputs = {training.HANDLER_FILE: training.handler_source(),
               training.REQUIREMENTS_FILE: training.serving_requirements(), **training.serving_wheels(wheels)}
    training.write_model_dir(model_dir, outputs)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for path in sorted(model_dir.iterdir()):
            tar.add(path, arcname=path.name)
    return buf.getvalue()


@pytest.fixture
def base(fitted_model: Pipeline, tmp_path: Path, model_workspace: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PRIVML_WORKSPACE", str(model_workspace))
    root = tmp_path / "opt_ml"
    unpack_artifact(_artifact(fitted_model, tmp_path, model_workspace), root)
    return root


def _environment(base: Path) -> dict[str, str]:
    return {k: v.replace("/opt/ml", str(base)) for k, v in SERVING_ENV.items()}


def _call(url: str, method: str, path: str, body: bytes | None = None,
          headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url + path, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_a_program_named_inference_is_refused_the_installed_package_would_win(base: Path) -> None:
    """Finding 3: the privml wheel installs a top-level `inference` package; a program `inference.py`
    is never what the container imports."""
    shutil.copy(base / "model" / "code" / training.PROGRAM, base / "model" / "code" / "inference.py")
    with pytest.raises(PrivmlError, match=r"SAGEMAKER_PROGRAM=inference\.py: the container would import the installed"):
        load_artifact(base, {**_environment(base), "SAGEMAKER_PROGRAM": "inference.py"})
    assert SERVING_ENV["SAGEMAKER_PROGRAM"] == training.PROGRAM


def test_the_program_is_imported_from_the_copied_code_directory(base: Path) -> None:
    app = load_artifact(base, _environment(base))
    assert Path(app.program.__file__).resolve() == (base / "code" / training.PROGRAM).resolve()
    assert app.program.transform_fn is not None and app.program.respond is handler.respond
    assert (base / "code" / "wheels").is_dir()  # the copy carries the wheels the toolkit installs from


@pytest.mark.parametrize(("lines", "problem"), [
    (["--find-links wheels", "privml==0.1.0"], "needs --no-index"),
    (["--no-index", "--find-links elsewhere", "privml==0.1.0"], "not a directory inside code/"),
    (["--no-index", "--find-links wheels", "privml==9.9.9"], r"no wheel for privml==9\.9\.9"),
])
def test_requirements_that_need_the_network_are_refused(base: Path, lines: list[str], problem: str) -> None:
    code = base / "model" / "code"
    (code / "requirements.txt").write_text("\n".join(lines) + "\n")
    with pytest.raises(PrivmlError, match=problem):
        check_offline_requirements(code)


def test_the_artifact_needs_requirements(base: Path) -> None:
    (base / "model" / "code" / "requirements.txt").unlink()
    with pytest.raises(PrivmlError, match=r"no requirements\.txt"):
        load_artifact(base, _environment(base))


BAD = [
    (415, {"Content-Type": "application/x-" + CANARIES["zip_code"]}, CANARIES["notes"].encode()),
    (406, {"Content-Type": "text/csv", "Accept": "image/" + CANARIES["zip_code"]}, None),
    (400, {"Content-Type": "application/json"}, json.dumps({"name": CANARIES["name"]}).encode()[:-2]),
    (400, {"Content-Type": "text/csv"}, f"name,email\n{CANARIES['name']},{CANARIES['email']}\n".encode()),
    (413, {"Content-Type": "text/csv"}, (f"{CANARIES['name']},{CANARIES['email']}\n" * 200_000).encode()),
]


def test_the_container_server_answers_the_contract(base: Path, fitted_model: Pipeline,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    app = load_artifact(base, _environment(base))
    running = start_container(app)
    try:
        assert running.url.startswith("http://127.0.0.1:")
        assert _call(running.url, "GET", "/ping")[0] == 200
        rows = raw_table(5, seed=21).drop(columns=[LABEL])
        body = rows.to_csv(index=False).encode()
        status, payload = _call(running.url, "POST", "/invocations", body, {"Content-Type": "text/csv",
                                                                            "Accept": "text/csv"})
        assert status == 200
        assert payload.decode().split() == [str(v) for v in fitted_model.predict(
            pd.read_csv(io.BytesIO(body), dtype=str, keep_default_na=False, na_values=[""]))]
        good_csv = body
        with caplog.at_level(logging.INFO):
            for expected, headers, data in BAD:
                status, payload = _call(running.url, "POST", "/invocations", data or good_csv, headers)
                assert status == expected, payload[:300]
                assert "error" in json.loads(payload)
                assert not any(v in payload.decode() for v in CANARIES.values())
    finally:
        running.stop()
    assert any("invocation refused: 415" in r.getMessage() for r in caplog.records)
    assert not any(v in caplog.text for v in CANARIES.values())


def test_respond_maps_key_and_internal_failures_without_quoting(fitted_model: Pipeline, monkeypatch: pytest.MonkeyPatch,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    body = raw_table(2, seed=4).drop(columns=[LABEL]).to_csv(index=False)

    def key_gone(data: object, model: object) -> None:
        raise KeyUnavailable(f"no key for {CANARIES['email']}")

    def bug(data: object, model: object) -> None:
        raise RuntimeError(CANARIES["ssn"])

    monkeypatch.setattr(handler, "predict_fn", key_gone)
    assert handler.respond(fitted_model, body, "text/csv", None).status == 503
    # the pipeline itself raising (the served model turns it into ModelFailed, naming only its type)
    from privml.serving.model import ServedModel

    monkeypatch.setattr(fitted_model.steps[0][1], "transform", lambda X: bug(X, None))
    monkeypatch.setattr(handler, "predict_fn", lambda data, model: ServedModel(model, compiled=False).score(data))
    reply = handler.respond(fitted_model, body, "text/csv", None)
    assert reply.status == 400 and "RuntimeError" in reply.body  # the model could not score: the type only
    monkeypatch.undo()
    monkeypatch.setattr(handler, "output_fn", bug)
    monkeypatch.setattr(handler, "predict_fn", lambda data, model: None)
    with caplog.at_level(logging.INFO):
        reply = handler.respond(fitted_model, body, "text/csv", None)
    assert reply.status == 500 and json.loads(reply.body) == {"error": "internal error"}
    assert not any(v in caplog.text + reply.body for v in CANARIES.values())


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_python_m_inference_container_serves_the_artifact(base: Path, model_workspace: Path) -> None:
    """The privml image's `serve`: the same module as a process, from /opt/ml (here SAGEMAKER_BASE_DIR)."""
    port = _free_port()
    env = {**os.environ, **_environment(base), "SAGEMAKER_BASE_DIR": str(base), "SAGEMAKER_BIND_TO_PORT": str(port),
           "PRIVML_WORKSPACE": str(model_workspace)}
    process = subprocess.Popen([sys.executable, "-m", "inference.container", "--host", "127.0.0.1"],
                               env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, process.stdout.read().decode() if process.stdout else ""
            try:
                if _call(f"http://127.0.0.1:{port}", "GET", "/ping")[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "no /ping"
            time.sleep(0.2)
        status, _ = _call(f"http://127.0.0.1:{port}", "POST", "/invocations", b"{",
                          {"Content-Type": "application/json"})
        assert status == 400
    finally:
        process.terminate()
        process.wait(timeout=20)


def test_load_program_refuses_a_module_without_the_contract(tmp_path: Path) -> None:
    (tmp_path / "privml_empty_program.py").write_text("X = 1\n")
    with pytest.raises(PrivmlError, match="has no model_fn, transform_fn, respond"):
        load_program(tmp_path, "privml_empty_program.py")
