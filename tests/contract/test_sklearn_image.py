"""The model artifact through the scikit-learn image's real toolkits (sagemaker-training's entry-point
runner, sagemaker-containers' serving stack), built from PyPI by tests/contract/toolkits.py.

Training: train.py in its code bundle (script + wheels/) run by the training toolkit against a directory
laid out like /opt/ml. Serving: that job's model directory packed as model.tar.gz, unpacked as SageMaker
unpacks ModelDataUrl, and served by `_server.start` with the environment the pipeline and `deploy` give
the model (SERVING_ENV): the toolkit copies code/, pip-installs it with no index, imports the program by
name, and gunicorn answers /ping and /invocations on 127.0.0.1.
"""

from __future__ import annotations

import json
import socket
import subprocess
import tarfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pipelines import packaging
from pipelines.definition import SERVING_ENV
from privml.sampledata import generate
from tests.contract.toolkits import Container, new_container
from tests.inference.conftest import CANARIES
from tests.models.jobs import make_anonymized, make_training_job

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
IMAGE_SCRIPTS = Path(__file__).resolve().parent / "image"
HYPERPARAMETERS = {"model": "logreg", "seed": "3"}
LABEL = "readmitted"


@dataclass
class TrainedArtifact:
    job_root: Path
    run: subprocess.CompletedProcess[str]
    archive: Path


def _train_with_the_training_toolkit(tmp: Path, hyperparameters: dict[str, str] | None = None,
                                     policy: dict[str, Any] | None = None) -> TrainedArtifact:
    anonymized = make_anonymized(tmp / "anonymized", rows=1200, seed=1, policy=policy)
    wheel = packaging.build_privml_wheel(tmp / "dist")
    bundle = packaging.make_bundle(REPO / "training" / "train.py", tmp / "bundle", wheel, None)
    job = make_training_job(tmp / "opt_ml_train", anonymized, hyperparameters or HYPERPARAMETERS)
    (job.root / "input" / "config" / "inputdataconfig.json").write_text(json.dumps(
        {ch: {"TrainingInputMode": "File", "S3DistributionType": "FullyReplicated"}
         for ch in ("train", "validation", "transformer")}))
    # the runner waits until every host name resolves (15 minutes for an unknown one): a name this host has
    (job.root / "input" / "config" / "resourceconfig.json").write_text(json.dumps(
        {"current_host": "localhost", "hosts": ["localhost"], "current_instance_type": "ml.m5.large"}))
    container = new_container(tmp / "training-container")
    run = subprocess.run(
        [str(container.python), str(IMAGE_SCRIPTS / "train.py"), str(bundle), "train.py"],
        env=container.env({"SAGEMAKER_BASE_DIR": str(job.root), "PRIVML_WORKSPACE": str(tmp / "train-ws")}),
        cwd=tmp, capture_output=True, text=True, timeout=900, check=False)
    archive = tmp / "model.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:  # SageMaker packs the model directory's contents
        for path in sorted(job.model_dir.iterdir()):
            tar.add(path, arcname=path.name)
    return TrainedArtifact(job.root, run, archive)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> TrainedArtifact:
    return _train_with_the_training_toolkit(tmp_path_factory.mktemp("sklearn-image"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Served:
    url: str
    base: Path
    log: Path
    container: Container

    def call(self, method: str, path: str, body: bytes | None = None,
             headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        request = urllib.request.Request(self.url + path, data=body, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=60) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()


@pytest.fixture(scope="module")
def served(trained: TrainedArtifact, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    assert trained.run.returncode == 0, trained.run.stdout[-4000:] + trained.run.stderr[-4000:]
    with _serving(trained, tmp_path_factory.mktemp("serving")) as running:
        yield running


@contextmanager
def _serving(trained: TrainedArtifact, tmp: Path) -> Iterator[Served]:
    """The artifact unpacked as SageMaker unpacks ModelDataUrl and served by the serving toolkit."""
    base = tmp / "opt_ml"
    with tarfile.open(trained.archive) as tar:  # SageMaker unpacks ModelDataUrl into /opt/ml/model
        tar.extractall(base / "model", filter="data")
    container = new_container(tmp / "serving-container")
    port = _free_port()
    environment = {name: value.replace("/opt/ml", str(base)) for name, value in SERVING_ENV.items()}
    environment.update({
        "SAGEMAKER_BASE_DIR": str(base),
        "SAGEMAKER_SERVING_MODULE": "sklearn_framework:main",
        "SAGEMAKER_USE_NGINX": "false",
        "SAGEMAKER_BIND_TO_PORT": str(port),
        "SAGEMAKER_MODEL_SERVER_WORKERS": "1",
        "PRIVML_WORKSPACE": str(tmp / "serving-ws"),
    })
    log = tmp / "container.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [str(container.python), str(IMAGE_SCRIPTS / "serve.py")], env=container.env(environment), cwd=tmp,
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    served = Served(f"http://127.0.0.1:{port}", base, log, container)
    try:
        deadline = time.monotonic() + 300
        while True:
            if process.poll() is not None:
                pytest.fail(f"the serving container exited ({process.returncode}):\n{log.read_text()[-6000:]}")
            try:
                if served.call("GET", "/ping")[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"/ping never answered 200:\n{log.read_text()[-6000:]}")
            time.sleep(0.5)
        yield served
    finally:
        import os
        import signal

        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def test_the_training_toolkit_runs_the_job_and_the_artifact_carries_what_serving_needs(
        trained: TrainedArtifact) -> None:
    assert trained.run.returncode == 0, trained.run.stdout[-4000:] + trained.run.stderr[-4000:]
    code = trained.job_root / "code"  # the toolkit's copy of the code channel, where the script ran
    assert (code / "train.py").is_file() and (code / "job_runner.py").is_file() and (code / "wheels").is_dir()
    assert not (trained.job_root / "output" / "failure").exists()
    with tarfile.open(trained.archive) as tar:
        names = sorted(tar.getnames())
    assert "model.skops" in names and "metadata.json" in names
    assert "code/privml_inference.py" in names and "code/requirements.txt" in names
    assert any(n.startswith("code/wheels/privml-") and n.endswith(".whl") for n in names), names


def test_a_failed_training_job_reports_through_the_toolkit_where_sagemaker_reads_it(tmp_path: Path) -> None:
    """Bad input (an empty train channel) under the training toolkit: the job runner exits 2, writes the
    reason to <base>/output/failure (SageMaker's FailureReason) and leaves the model directory empty."""
    anonymized = make_anonymized(tmp_path / "anonymized", rows=300, seed=2)
    wheel = packaging.build_privml_wheel(tmp_path / "dist")
    bundle = packaging.make_bundle(REPO / "training" / "train.py", tmp_path / "bundle", wheel, None)
    job = make_training_job(tmp_path / "opt_ml_train", anonymized, HYPERPARAMETERS)
    (job.channel("train") / "data.csv").unlink()
    (job.root / "input" / "config" / "inputdataconfig.json").write_text(json.dumps(
        {ch: {"TrainingInputMode": "File"} for ch in ("train", "validation", "transformer")}))
    (job.root / "input" / "config" / "resourceconfig.json").write_text(json.dumps(
        {"current_host": "localhost", "hosts": ["localhost"], "current_instance_type": "ml.m5.large"}))
    container = new_container(tmp_path / "training-container")
    run = subprocess.run(
        [str(container.python), str(IMAGE_SCRIPTS / "train.py"), str(bundle), "train.py"],
        env=container.env({"SAGEMAKER_BASE_DIR": str(job.root), "PRIVML_WORKSPACE": str(tmp_path / "ws")}),
        cwd=tmp_path, capture_output=True, text=True, timeout=900, check=False)
    assert run.returncode != 0
    assert "ExitCode 2" in run.stderr, run.stderr[-3000:]  # the toolkit's ExecuteUserScriptError: the job's code
    failure = (job.root / "output" / "failure").read_text()
    assert failure.startswith("privml training failed: ") and "train channel is empty" in failure, failure
    assert failure.count("\n") == 1
    assert list(job.model_dir.iterdir()) == []


def _raw_rows(n: int) -> list[dict[str, str]]:
    frame = generate(n, seed=77).drop(columns=[LABEL])
    return json.loads(frame.to_json(orient="records"))


def _expected_labels(served: Served, body: bytes) -> list[str]:
    """The same rows through the model file loaded in this process (the host's privml)."""
    import io

    import pandas as pd

    from privml.models.persistence import load_model

    model = load_model(served.base / "model" / "model.skops")
    frame = pd.read_csv(io.BytesIO(body), dtype=str, keep_default_na=False, na_values=[""])
    return [str(v) for v in model.predict(frame)]


def test_the_serving_toolkit_imports_the_program_from_the_artifact_and_answers(served: Served) -> None:
    assert served.call("GET", "/ping")[0] == 200
    frame = generate(6, seed=77).drop(columns=[LABEL])
    body = frame.to_csv(index=False).encode()
    status, payload = served.call("POST", "/invocations", body, {"Content-Type": "text/csv", "Accept": "text/csv"})
    assert status == 200, payload
    assert payload.decode().split() == _expected_labels(served, body)
    status, payload = served.call("POST", "/invocations", json.dumps(_raw_rows(4)).encode(),
                                  {"Content-Type": "application/json", "Accept": "application/json"})
    assert status == 200, payload
    predictions = json.loads(payload)["predictions"]
    assert len(predictions) == 4 and all(set(p) == {"label", "probabilities"} for p in predictions)
    # the toolkit's own step did it: its copy of code/, privml installed from the artifact's wheels
    assert (served.base / "code" / "privml_inference.py").is_file()
    log = served.log.read_text()
    assert "Installing module with the following command" in log
    assert "Successfully installed" in log and "privml-" in log


def _canary_csv() -> bytes:
    rows = generate(3, seed=5).drop(columns=[LABEL])
    rows["name"] = CANARIES["name"]
    rows["email"] = CANARIES["email"]
    rows["age"] = CANARIES["ssn"]  # not a number where the policy generalizes a number
    return rows.to_csv(index=False).encode()


BAD_REQUESTS = [
    ("unsupported content type", 415, {"Content-Type": "application/x-" + CANARIES["zip_code"]},
     CANARIES["notes"].encode()),
    ("unacceptable Accept", 406, {"Content-Type": "text/csv", "Accept": "application/x-" + CANARIES["zip_code"]},
     generate(2, seed=5).drop(columns=[LABEL]).to_csv(index=False).encode()),
    ("malformed JSON", 400, {"Content-Type": "application/json"},
     json.dumps({"name": CANARIES["name"], "email": CANARIES["email"]}).encode()[:-3]),
    ("missing columns", 400, {"Content-Type": "text/csv"},
     f"name,email\n{CANARIES['name']},{CANARIES['email']}\n".encode()),
    ("a value the model cannot take", 400, {"Content-Type": "text/csv"}, _canary_csv()),
    ("too large", 413, {"Content-Type": "text/csv"},
     (("name,email\n" + f"{CANARIES['name']},{CANARIES['email']}\n" * 200_000).encode())),
]


@pytest.mark.parametrize(("what", "expected", "headers", "body"), BAD_REQUESTS, ids=[b[0] for b in BAD_REQUESTS])
def test_bad_requests_leave_the_toolkit_as_4xx_quoting_nothing(served: Served, what: str, expected: int,
                                                                headers: dict[str, str], body: bytes) -> None:
    status, payload = served.call("POST", "/invocations", body, headers)
    assert status == expected, (what, status, payload[:500])
    text = payload.decode("utf-8", "replace")
    assert "error" in json.loads(text)
    assert "Traceback" not in text
    for value in CANARIES.values():
        assert value not in text, (what, text[:500])


def test_a_regression_model_trains_and_serves_numbers_through_the_toolkits(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    """`total_charges` as the label: the training toolkit runs the job, which decides the task
    (regression) from the train split; the serving toolkit's container answers numbers in CSV and JSON."""
    from tests.models.test_tasks_job import LABEL as TARGET
    from tests.models.test_tasks_job import regression_policy

    tmp = tmp_path_factory.mktemp("sklearn-image-regression")
    trained = _train_with_the_training_toolkit(tmp, {"model": "hgb", "seed": "3"}, regression_policy())
    assert trained.run.returncode == 0, trained.run.stdout[-4000:] + trained.run.stderr[-4000:]
    metadata = json.loads((trained.job_root / "model" / "metadata.json").read_text())
    assert metadata["task"] == "regression" and metadata["estimator"] == "HistGradientBoostingRegressor"
    with _serving(trained, tmp / "serving") as running:
        import io

        import pandas as pd

        from privml.models.persistence import load_model

        frame = generate(6, seed=77).drop(columns=[LABEL, TARGET])
        body = frame.to_csv(index=False).encode()
        expected = load_model(running.base / "model" / "model.skops").predict(
            pd.read_csv(io.BytesIO(body), dtype=str, keep_default_na=False, na_values=[""]))
        status, payload = running.call("POST", "/invocations", body, {"Content-Type": "text/csv", "Accept": "text/csv"})
        assert status == 200, payload
        assert [float(v) for v in payload.decode().split()] == pytest.approx(list(expected), rel=1e-12)
        records = frame.to_json(orient="records").encode()
        status, payload = running.call("POST", "/invocations", records,
                                       {"Content-Type": "application/json", "Accept": "application/json"})
        assert status == 200, payload
        scores = [p["score"] for p in json.loads(payload)["predictions"]]
        assert scores == pytest.approx(list(expected), rel=1e-12)


def test_the_container_log_quotes_no_request_value(served: Served) -> None:
    for _, _, headers, body in BAD_REQUESTS:
        served.call("POST", "/invocations", body, headers)
    time.sleep(0.5)  # let gunicorn flush
    log = served.log.read_text(errors="replace")
    assert "invocation refused: 400" in log  # the handler's own line, with a value-free message
    assert "Traceback" not in log
    for value in CANARIES.values():
        assert value not in log
