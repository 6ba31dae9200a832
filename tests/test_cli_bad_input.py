"""Bad input to `privml anonymize`: one clear line on stderr, exit 2, nothing written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from privml.cli import main

POLICY = """
columns:
  email: {role: identifier, action: redact}
  income: {role: feature, action: generalize, params: {width: 1000}}
"""


@pytest.fixture
def policy(tmp_path: Path) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY)
    return path


def run(tmp_path: Path, data: Path, policy: Path, capsys, *options: str) -> tuple[int, str]:
    out = tmp_path / "out"
    code = main(["anonymize", str(data), "--policy", str(policy), "-o", str(out), *options])
    err = capsys.readouterr().err
    assert not out.exists(), "no partial output"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.")], "no temporary leftovers"
    return code, err


def write(tmp_path: Path, content: bytes, name: str = "data.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(content)
    return path


CASES = {
    "missing file": (None, "no such file"),
    "empty file": (b"", "empty file"),
    "header only": (b"email,income\n", "no data rows"),
    "wrong delimiter": (b"email;income\nCANARY@x.org;1\nb@x.org;2;3\n", "line 3 has 3 fields, expected 2"),
    "not utf-8": (b"email,income\nCANARY@x.org,1\n\xff\xfe@x.org,2\n", r"not UTF-8 text \(invalid bytes on line 3\)"),
    "mixed types": (b"email,income\nCANARY@x.org,100\nb@x.org,CANARY-income\n", "column 'income'.*not numbers.*rows 2"),
    "missing column": (b"mail,income\nCANARY@x.org,1\n", "missing from the table: email"),
    "duplicate header": (b"email,email,income\nCANARY@x.org,a,1\n", "duplicate column names"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_one_clear_line(tmp_path, policy, capsys, case):
    content, message = CASES[case]
    data = tmp_path / "nope.csv" if content is None else write(tmp_path, content)
    code, err = run(tmp_path, data, policy, capsys)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("privml: error:")
    assert re.search(message, err), err
    assert "CANARY" not in err


def test_file_over_the_size_limit(tmp_path, policy, capsys):
    big = tmp_path / "big.csv"
    with open(big, "wb") as fh:  # sparse: 2 GB apparent size, no disk used
        fh.write(b"email,income\n")
        fh.truncate(2 * 1024**3)
    code, err = run(tmp_path, big, policy, capsys, "--engine", "memory")  # auto would stream it (tests/cli)
    assert code == 2 and "2.0 GB is over the 1.0 GB limit" in err


def test_bad_policy_names_file_and_field(tmp_path, capsys):
    data = write(tmp_path, b"email,income\na@x.org,1\n")
    bad = tmp_path / "bad.yaml"
    bad.write_text("columns:\n  email: {role: identifer, action: redact}\n")
    code, err = run(tmp_path, data, bad, capsys)
    assert code == 2 and "bad.yaml" in err and "columns.email.role" in err and "identifier" in err


def test_policy_that_is_not_yaml(tmp_path, capsys):
    data = write(tmp_path, b"email,income\na@x.org,1\n")
    bad = tmp_path / "bad.yaml"
    bad.write_text("columns: [unclosed\n")
    code, err = run(tmp_path, data, bad, capsys)
    assert code == 2 and "not valid YAML" in err


def test_existing_user_directory_is_never_overwritten(tmp_path, policy, capsys):
    data = write(tmp_path, b"email,income\na@x.org,1\n")
    out = tmp_path / "out"
    out.mkdir()
    (out / "precious.txt").write_text("mine")
    code = main(["anonymize", str(data), "--policy", str(policy), "-o", str(out)])
    assert code == 2 and (out / "precious.txt").read_text() == "mine"
