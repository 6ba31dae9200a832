"""The command line: serve (a real subprocess), credentials, invoke, capture read; TLS/credential files."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest

from inference.credentials import load_or_create_credentials
from inference.server import start_local_endpoint
from inference.tls import ensure_tls_material
from privml.cli import main
from tests.inference.conftest import CANARIES, pii_rows, save_model_dir

REPO = Path(__file__).resolve().parents[2]


def test_tls_material_is_created_once_with_private_keys_0600(workspace: Path) -> None:
    first = ensure_tls_material(workspace)
    again = ensure_tls_material(workspace)
    assert first == again and first.ca_bundle.read_bytes() == again.ca_bundle.read_bytes()
    for key in (workspace / "tls" / "ca.key", first.keyfile):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600


def test_credentials_are_created_once_0600_and_printed(workspace: Path, capsys) -> None:
    creds = load_or_create_credentials(workspace)
    assert load_or_create_credentials(workspace) == creds
    path = workspace / "endpoint" / "credentials.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert main(["credentials"]) == 0
    text = capsys.readouterr().out
    # the default touches nothing but privml's own profile files: no export line, no secret on screen
    assert "export AWS" not in text and creds.secret_access_key not in text and "AWS_PROFILE=privml-local" in text
    written = (workspace / "aws" / "credentials").read_text()
    assert "[privml-local]" in written and creds.secret_access_key in written
    assert stat.S_IMODE((workspace / "aws" / "credentials").stat().st_mode) == 0o600
    assert main(["credentials", "--env"]) == 0
    assert f"export AWS_ACCESS_KEY_ID={creds.access_key_id}" in capsys.readouterr().out
    assert main(["credentials", "--json", "--port", "9443"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["endpoint_url"] == "https://localhost:9443" and Path(data["ca_bundle"]).is_file()
    assert Path(data["config_file"]).read_text().count("endpoint_url = https://localhost:9443") == 1
    assert creds.secret_access_key not in repr(creds)


def test_invoke_and_capture_read_against_the_local_endpoint(fitted_model, raw_requests, workspace: Path,
                                                             tmp_path: Path, capsys) -> None:
    data = tmp_path / "rows.csv"
    pii_rows(raw_requests, 3).to_csv(data, index=False)
    with start_local_endpoint(fitted_model, workspace=workspace, name="cli-ep") as ep:
        assert main(["invoke", "cli-ep", "--data", str(data), "--port", str(ep.port)]) == 0
        assert len(capsys.readouterr().out.split()) == 3
        assert main(["invoke", "cli-ep", "--data", str(data), "--endpoint-url", ep.url,
                     "--accept", "application/json"]) == 0
        assert len(json.loads(capsys.readouterr().out)["predictions"]) == 3
        assert main(["invoke", "missing-ep", "--data", str(data), "--port", str(ep.port)]) == 2
        assert "ValidationError" in capsys.readouterr().err
        # the profile `privml credentials` writes works with an unmodified boto3 client: endpoint URL,
        # CA bundle, region and keys all come from privml's own config/credentials files
        assert main(["credentials", "--port", str(ep.port)]) == 0
        capsys.readouterr()
        with pytest.MonkeyPatch.context() as mp:
            mp.delenv("AWS_CA_BUNDLE", raising=False)  # the machine's own bundle would win over the profile's
            for name, value in {"AWS_CONFIG_FILE": workspace / "aws" / "config",
                                "AWS_SHARED_CREDENTIALS_FILE": workspace / "aws" / "credentials",
                                "AWS_PROFILE": "privml-local"}.items():
                mp.setenv(name, str(value))
            client = boto3.Session().client("sagemaker-runtime")  # a new session reads the files
            out = client.invoke_endpoint(EndpointName="cli-ep", ContentType="text/csv", Body=data.read_bytes())
            assert len(out["Body"].read().split()) == 3
    assert main(["capture", "read", "--endpoint", "cli-ep"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(records) == 3
    assert all(set(r["captureData"]) == {"endpointOutput"} for r in records)  # default: outputs only
    for path in (workspace / "capture").rglob("*"):
        if path.is_file():
            assert all(c.encode() not in path.read_bytes() for c in CANARIES.values())


def test_bad_usage_exits_2(workspace: Path, tmp_path: Path, capsys) -> None:
    assert main(["invoke", "ep", "--data", str(tmp_path / "nope.csv")]) == 2
    (tmp_path / "rows.txt").write_text("a\n")
    assert main(["invoke", "ep", "--data", str(tmp_path / "rows.txt")]) == 2
    assert main(["capture", "read", "--endpoint", "nothing-here"]) == 2
    assert main(["serve", str(tmp_path / "no-model"), "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert "privml: error:" in err


def test_serve_subprocess_answers_boto3(fitted_model, model_workspace: Path, raw_requests, tmp_path: Path) -> None:
    model_dir = save_model_dir(fitted_model, tmp_path / "model", model_workspace)
    env = {**os.environ, "PRIVML_WORKSPACE": str(model_workspace)}  # where the model's tokenize key lives
    proc = subprocess.Popen([sys.executable, "-m", "privml", "serve", str(model_dir), "--port", "0",
                             "--name", "sub"], cwd=REPO, env=env, stderr=subprocess.PIPE, text=True)
    try:
        line = ""
        deadline = time.monotonic() + 60
        while "serving" not in line and time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line and proc.poll() is not None:
                pytest.fail("privml serve exited")
        url = line.split(" at ")[1].split()[0]
        creds = load_or_create_credentials(model_workspace)
        client = boto3.client("sagemaker-runtime", endpoint_url=url, region_name="local",
                              verify=str(ensure_tls_material(model_workspace).ca_bundle),
                              aws_access_key_id=creds.access_key_id, aws_secret_access_key=creds.secret_access_key)
        out = client.invoke_endpoint(EndpointName="sub", ContentType="text/csv",
                                     Body=raw_requests.head(4).to_csv(index=False))
        assert len(out["Body"].read().split()) == 4
        client.close()
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=20)


def test_invoke_aws_goes_through_the_boto3_chain(tmp_path: Path, monkeypatch, capsys) -> None:
    from moto import mock_aws

    data = tmp_path / "rows.json"
    data.write_text('[{"age": "41"}]')
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")  # tests only
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    sent: list[dict] = []
    with mock_aws():
        original = boto3.client

        def recording_client(*args, **kwargs):
            client = original(*args, **kwargs)
            client.meta.events.register("provide-client-params.sagemaker-runtime.InvokeEndpoint",
                                        lambda params, **kw: sent.append(dict(params)))
            return client

        monkeypatch.setattr(boto3, "client", recording_client)
        assert main(["invoke", "prod-ep", "--data", str(data), "--aws"]) == 0
    assert sent[0]["EndpointName"] == "prod-ep" and sent[0]["ContentType"] == "application/json"
    assert capsys.readouterr().out == "body"  # moto's canned InvokeEndpoint body
