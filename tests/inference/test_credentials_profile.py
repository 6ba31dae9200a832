"""`privml credentials` by default writes a named profile to privml's own files and touches nothing else;
the routes it prints (boto3, the SageMaker SDK v3's `Endpoint(...).invoke`) reach the local endpoint."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from inference.server import start_local_endpoint
from privml.cli import main
from tests.inference.conftest import pii_rows


def _prefix_env(text: str, marker: str) -> dict[str, str]:
    """The VAR=value words before `python your_script.py` on the printed line that has `marker`."""
    line = next(ln for ln in text.splitlines() if marker in ln and ln.endswith("python your_script.py"))
    words = shlex.split(line)[:-2]
    return dict(word.split("=", 1) for word in words)


def test_default_touches_only_privml_files(workspace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys) -> None:
    home = tmp_path / "home"
    (home / ".aws").mkdir(parents=True)
    (home / ".aws" / "config").write_text("[default]\nregion = eu-west-1\n")
    monkeypatch.setenv("HOME", str(home))
    before = {p: p.read_bytes() for p in (home / ".aws").iterdir()}
    assert main(["credentials"]) == 0
    assert main(["credentials", "--profile", "mine"]) == 0
    text = capsys.readouterr().out
    assert {p: p.read_bytes() for p in (home / ".aws").iterdir()} == before
    assert "AWS_DEFAULT_REGION" not in text and "AWS_REGION" not in text
    assert not [line for line in text.splitlines() if line.startswith("export ")]
    assert "[mine]" in (workspace / "aws" / "credentials").read_text()
    assert "Endpoint(endpoint_name=" in text and "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME=" in text
    assert "AWS_CA_BUNDLE=" in text
    assert main(["credentials", "--profile", "bad name"]) == 2


def test_printed_routes_reach_the_local_endpoint(fitted_model, raw_requests, workspace: Path, tmp_path: Path,
                                                 capsys) -> None:
    rows = tmp_path / "rows.csv"
    pii_rows(raw_requests, 2).to_csv(rows, index=False)
    with start_local_endpoint(fitted_model, workspace=workspace, name="privml") as ep:
        assert main(["credentials", "--port", str(ep.port)]) == 0
        text = capsys.readouterr().out
        base = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        boto3_script = ("import boto3, sys; out = boto3.Session(profile_name='privml-local')"
                        ".client('sagemaker-runtime').invoke_endpoint("
                        "EndpointName='privml', ContentType='text/csv', Body=open(sys.argv[1], 'rb'));"
                        "print(out['Body'].read().decode())")
        # keys exported in the shell (a real AWS user's) must not take over: the code names the profile
        shell = {**base, "AWS_ACCESS_KEY_ID": "AKIAREALKEYNOTLOCAL0", "AWS_SECRET_ACCESS_KEY": "x" * 40,
                 "AWS_CA_BUNDLE": "/etc/ssl/certs/ca-certificates.crt"}
        boto3_env = _prefix_env(text, "AWS_PROFILE=privml-local AWS_CA_BUNDLE=")
        proc = subprocess.run([sys.executable, "-c", boto3_script, str(rows)], capture_output=True, text=True,
                              env={**shell, **boto3_env}, timeout=120)
        assert proc.returncode == 0, proc.stderr
        assert len(proc.stdout.split()) == 2
        try:
            import sagemaker.core.resources  # noqa: F401
        except ImportError:
            pytest.skip("the SageMaker SDK v3 is not installed")
        sdk_script = ("import sys; from sagemaker.core.resources import Endpoint;"
                      "out = Endpoint(endpoint_name='privml').invoke(body=open(sys.argv[1]).read(), "
                      "content_type='text/csv'); body = out.body;"
                      "print(body.read().decode() if hasattr(body, 'read') else body)")
        sdk_env = _prefix_env(text, "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME=")
        assert sdk_env["AWS_CA_BUNDLE"] == str(ep.ca_bundle)
        proc = subprocess.run([sys.executable, "-c", sdk_script, str(rows)], capture_output=True, text=True,
                              env={**base, **sdk_env, "SAGEMAKER_VALIDATE_ROLE": "false"}, timeout=300)
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert len(proc.stdout.split()) == 2
