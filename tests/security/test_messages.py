"""Finding 6: errors echoed attacker input (a SignedHeaders name of any length, in the 403 body and the
log), a 20,000-deep YAML policy exited 3 (RecursionError), and `run --local` with a policy naming a
missing column stored the input before it failed."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from pathlib import Path

from tests.security.conftest import ROW_CSV

REPO = Path(__file__).resolve().parents[2]


def test_signed_headers_name_is_not_echoed(endpoint, session, caplog) -> None:
    caplog.set_level(logging.DEBUG, logger="privml")
    headers = endpoint.signed_headers("/invocations", ROW_CSV.encode(), {"Content-Type": "text/csv"})
    attack = "x-" + "evil<script>" * 1000
    auth = headers["Authorization"]
    prefix, _, rest = auth.partition("SignedHeaders=")
    signed, _, tail = rest.partition(",")
    headers["Authorization"] = f"{prefix}SignedHeaders={';'.join(sorted([*signed.split(';'), attack]))},{tail}"
    r = session.post(f"{endpoint.url}/invocations", data=ROW_CSV, headers=headers, timeout=10)
    assert r.status_code == 403
    # at most a 32-character excerpt of the name, of token characters only
    assert "<script>" not in r.text and "evilscript" * 4 not in r.text and len(r.text) < 200
    logged = "\n".join(rec.getMessage() for rec in caplog.records)
    assert "<script>" not in logged and "evilscript" * 4 not in logged


def test_name_excerpt_is_fixed_length_and_inert() -> None:
    from inference.sigv4 import name_excerpt

    assert name_excerpt("x-amz-date") == "x-amz-date"
    excerpt = name_excerpt("a\n\r<>\"'" + "b" * 5000)
    assert len(excerpt) <= 35 and "\n" not in excerpt and "<" not in excerpt


def _privml(*args: str, workspace: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PRIVML_WORKSPACE": str(workspace)}
    return subprocess.run([sys.executable, "-m", "privml", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=300)


def test_deeply_nested_policy_is_bad_input_naming_the_field(tmp_path: Path) -> None:
    policy = tmp_path / "deep.yaml"
    policy.write_text("version: 1\ncolumns:\n  age:\n    params: " + "[" * 20000 + "]" * 20000 + "\n")
    data = tmp_path / "data.csv"
    data.write_text("age\n41\n")
    result = _privml("anonymize", str(data), "--policy", str(policy), "-o", str(tmp_path / "out"),
                     workspace=tmp_path / "ws")
    assert result.returncode == 2, result.stderr[-500:]
    assert "columns.age.params" in result.stderr and "nested deeper" in result.stderr
    assert "RecursionError" not in result.stderr


def test_yaml_alias_bomb_is_refused_quickly(tmp_path: Path) -> None:
    """Billion laughs: nine levels of aliases, each nine times the last."""
    lines = ["version: 1", 'a0: &a0 ["lol"]']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]
    lines += ["columns: *a9"]
    policy = tmp_path / "bomb.yaml"
    policy.write_text("\n".join(lines) + "\n")
    data = tmp_path / "data.csv"
    data.write_text("age\n41\n")
    started = time.monotonic()
    result = _privml("anonymize", str(data), "--policy", str(policy), "-o", str(tmp_path / "out"),
                     workspace=tmp_path / "ws")
    # 9^9 expanded nodes would take minutes and gigabytes; refused, it costs the CLI's start-up
    assert time.monotonic() - started < 60
    assert result.returncode == 2, result.stderr[-500:]
    assert result.stderr.startswith("privml: error:") and "bomb.yaml" in result.stderr, result.stderr[-500:]
    assert result.stderr.count("\n") == 1 and not (tmp_path / "out").exists()


def test_run_local_checks_policy_columns_before_storing_anything(tmp_path: Path) -> None:
    from privml.sampledata import generate

    data = tmp_path / "data.csv"
    generate(50, seed=1).to_csv(data, index=False)
    policy = tmp_path / "policy.yaml"
    policy.write_text("version: 1\ncolumns:\n  no_such_column:\n    role: feature\n    action: keep\n"
                      "  readmitted:\n    role: label\n")
    workspace = tmp_path / "ws"
    result = _privml("run", "--local", "--data", str(data), "--policy", str(policy), workspace=workspace)
    assert result.returncode == 2, result.stderr[-800:]
    assert "no_such_column" in result.stderr
    objects = workspace / "objects"
    stored = [p for p in objects.rglob("*") if p.is_file() and p.name != ".bucket.json"] if objects.exists() else []
    assert stored == []  # neither the data nor the policy went into the store
