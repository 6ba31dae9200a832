"""Keyed techniques under network isolation, locally as on AWS: the key-preparation job alone reads the
local KMS (as PrepareKeys alone may call AWS KMS); the isolated Anonymize job gets no key store and no
credentials — only the derived-secrets file as its input — and still writes the tokens the KMS-derived
secret gives. No secret reaches a definition, record, report, transformer or model file."""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROWS = 400


def _spy_jobs(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Record each local job's environment and sandbox as the runner starts it."""
    jobs: list[dict[str, Any]] = []
    real = subprocess.Popen

    def popen(command: Any, *args: Any, env: dict[str, str] | None = None, **kwargs: Any) -> Any:
        if env and "PRIVML_JOB_SANDBOX" in env:
            jobs.append({"env": dict(env), "sandbox": json.loads(env["PRIVML_JOB_SANDBOX"]), "command": command})
        return real(command, *args, env=env, **kwargs)

    monkeypatch.setattr(subprocess, "Popen", popen)
    return jobs


def _job(jobs: list[dict[str, Any]], script: str) -> dict[str, Any]:
    (found,) = [j for j in jobs if j["sandbox"]["script"].endswith(script)]
    return found


@pytest.mark.slow
def test_isolated_anonymize_gets_its_secret_with_no_kms_call(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pipelines.local.run_local import run_local
    from privml.crypto.local_kms import LocalKms
    from privml.crypto.objectstore import LocalObjectStore
    from privml.io import read_table
    from privml.sampledata import generate
    from privml.transforms import Context, technique_class

    jobs = _spy_jobs(monkeypatch)
    record = run_local(rows=ROWS, quiet=True, endpoint=False)
    assert record["status"] == "Succeeded", record.get("failure_reason")
    key_store = Path(LocalKms.open(workspace).path)

    anonymize = _job(jobs, "anonymize.py")
    env, sandbox = anonymize["env"], anonymize["sandbox"]
    # no key store, no workspace, no credentials: nothing through which a KMS call could be made
    assert env["PRIVML_KEY_PROVIDER"] == "file" and env["PRIVML_KEY_FILE"].endswith("/keys/derived-secrets.json")
    assert not {"PRIVML_WORKSPACE", "PRIVML_KEYSTORE_PASSPHRASE"} & set(env)
    assert not [v for v in env if v.startswith("AWS_")]
    assert all(not str(key_store.parent).startswith(r) and not r.startswith(str(key_store.parent))
               for r in sandbox["read_roots"] + sandbox["write_roots"])
    assert sandbox["network_isolation"] is True
    # the key-preparation job is the one that read the local KMS, with no network either
    prepare = _job(jobs, "prepare_keys.py")
    assert prepare["env"]["PRIVML_KEY_PROVIDER"] == "local"
    assert str(key_store.parent) in prepare["sandbox"]["read_roots"]
    assert prepare["sandbox"]["network_isolation"] is True
    steps = {s["name"]: s for s in record["steps"]}
    assert steps["Anonymize"]["controls"]["kms_access"].startswith("derived-secrets file only")
    assert steps["PrepareKeys"]["controls"]["kms_access"].startswith("AWS KMS emulated")

    # the tokens are those the KMS-derived secret gives
    policy = yaml.safe_load((workspace / "runs" / record["run_id"] / "policy.yaml").read_text())
    tokenized = [c for c, spec in policy["columns"].items() if spec.get("action") == "tokenize"]
    assert tokenized, "the scanned sample policy tokenizes a column"
    column = tokenized[0]
    kms = LocalKms.open(workspace)
    technique = technique_class("tokenize")(policy["columns"][column].get("params"))
    key_id = kms.resolve(policy["keys"][policy["columns"][column]["key"]])
    secret = kms.derive_secret(key_id, technique.purpose)
    raw = generate(rows=ROWS, seed=0)
    expected = set(technique.apply(raw[column].astype(object).where(raw[column].notna(), None),
                                   Context(column, secret=secret)).dropna())
    store = LocalObjectStore.open(workspace)
    train = store.get_bytes(record["artifacts"]["train"])
    out = workspace / "train.csv"
    out.write_bytes(train)
    written = set(read_table(out)[column].dropna())
    out.unlink()
    assert written and written <= expected

    # no secret in the definition, the record, the report, the transformer or the model
    secrets_file = next(u for u in steps["PrepareKeys"]["outputs"] if "/secrets/" in u)
    document = json.loads(store.get_bytes(secrets_file))
    values = [base64.b64decode(s["value"]) for k in document["keys"].values() for s in k["secrets"].values()]
    assert secret in values
    needles = [n for v in values for n in (v, v.hex().encode(), base64.b64encode(v))]
    key_objects = {u for s in ("PrepareKeys",) for u in steps[s]["outputs"]}
    plaintexts = {u: store.get_bytes(u) for s in record["steps"] for u in s["outputs"] if u not in key_objects}
    assert any(u.endswith("transformer.skops") for u in plaintexts) and any(u.endswith("model.tar.gz")
                                                                           for u in plaintexts)
    import gzip

    for uri, data in list(plaintexts.items()):
        if uri.endswith(".tar.gz"):
            plaintexts[uri + "!"] = gzip.decompress(data)
    files = {str(p): p.read_bytes() for p in (workspace / "runs").rglob("*") if p.is_file()}
    leaks = [name for name, data in {**plaintexts, **files}.items() for n in needles if n in data]
    assert leaks == []


KEYED_POLICY = """version: 1
keys: {tokens: alias/privml-tokens}
columns:
  email: {role: identifier, action: tokenize, key: tokens}
  age: {role: feature, action: keep}
  readmitted: {role: label}
"""


def test_a_keyed_policy_without_the_key_preparation_path_is_refused_before_anything_is_stored(
    workspace: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from pipelines.config import KEY_PURPOSES
    from privml.cli import main
    from privml.crypto.local_kms import LocalKms
    from privml.sampledata import generate

    kms = LocalKms.open(workspace)
    for purpose in KEY_PURPOSES:
        kms.ensure_key(f"alias/privml-{purpose}")
    kms.ensure_key("alias/privml-tokens")
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({
        "region": "us-east-1", "role_arn": "arn:aws:iam::000000000000:role/privml-local-execution",
        "bucket": "privml-local", "local": True,
        "kms": {purpose: f"alias/privml-{purpose}" for purpose in KEY_PURPOSES},
        "network": {"subnets": ["subnet-00000000000000000"], "security_group_ids": ["sg-00000000000000000"]},
    }))
    policy = tmp_path / "policy.yaml"
    policy.write_text(KEYED_POLICY)
    data = tmp_path / "data.csv"
    generate(rows=60, seed=1)[["email", "age", "readmitted"]].to_csv(data, index=False)
    code = main(["run", "--local", "--config", str(config), "--policy", str(policy), "--data", str(data),
                 "--no-endpoint"])
    err = capsys.readouterr().err
    assert code == 2
    assert "kms.hmac" in err and "keyed techniques" in err
    objects = workspace / "objects"
    assert not objects.exists() or not [p for p in objects.rglob("*") if p.is_file() and not p.name.startswith(".")]
    assert not (workspace / "runs").exists() or not list((workspace / "runs").rglob("definition.json"))
