"""`privml get`, `ls`, `runs open` and `decrypt s3://...`: every URI the CLI prints opens for a key holder."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.local.records import write_record
from privml.cli import main
from privml.crypto.local_kms import LocalKms
from privml.crypto.objectstore import LocalObjectStore

RUN = "20261202-010203-abcdef"
BASE = f"s3://privml-local/privml/runs/{RUN}"
HTML = b"<html><body>report \xe2\x80\x94 k = 5</body></html>\n"


@pytest.fixture
def run(workspace: Path) -> dict[str, str]:
    """A run's artifacts in the object store, encrypted under the bucket key, and its record."""
    kms = LocalKms.open(workspace)
    store = LocalObjectStore(workspace / "objects", kms)
    store.set_bucket_key("privml-local", kms.create_key("privml-data"))
    artifacts = {"report_html": f"{BASE}/anonymize/report/report.html",
                 "report": f"{BASE}/anonymize/report/report.json",
                 "model_card": f"{BASE}/evaluate/model_card.md",
                 "train": f"{BASE}/anonymize/train/train.csv"}
    store.put_bytes(artifacts["report_html"], HTML)
    store.put_bytes(artifacts["report"], b'{"k": 5}')
    store.put_bytes(artifacts["model_card"], b"# Model card\n")
    big = b"".join(b"%d,row\n" % i for i in range(400_000))  # several 1 MiB frames
    store.put_bytes(artifacts["train"], big)
    write_record(workspace, {"run_id": RUN, "status": "Succeeded", "started_at": "2026-12-02T01:02:03+00:00",
                             "steps": [], "artifacts": artifacts})
    return artifacts


def test_get_writes_the_plaintext_0600_and_refuses_to_overwrite(
        run: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["get", run["report_html"]]) == 0  # default: the key's last segment, here
    assert (tmp_path / "report.html").read_bytes() == HTML
    assert stat.S_IMODE((tmp_path / "report.html").stat().st_mode) == 0o600
    assert f"decrypted from {run['report_html']}" in capsys.readouterr().out
    assert main(["get", run["report_html"]]) == 2
    assert "exists; pass --force" in capsys.readouterr().err
    (tmp_path / "report.html").write_text("mine")
    assert main(["get", run["report_html"], "-o", "report.html", "--force"]) == 0
    assert (tmp_path / "report.html").read_bytes() == HTML
    (tmp_path / "into").mkdir()
    capsys.readouterr()
    assert main(["get", run["model_card"], "-o", "into", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["output"] == str(Path("into") / "model_card.md")
    assert (tmp_path / "into" / "model_card.md").read_bytes() == b"# Model card\n"


def test_get_streams_to_stdout(run: dict[str, str], workspace: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "privml", "get", run["train"], "-o", "-"], capture_output=True,
                          env={**os.environ, "PRIVML_WORKSPACE": str(workspace)}, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == b"".join(b"%d,row\n" % i for i in range(400_000))


def test_errors_name_the_uri_never_the_content(run: dict[str, str], workspace: Path, tmp_path: Path,
                                               capsys) -> None:
    missing = f"{BASE}/anonymize/report/nothing.html"
    assert main(["get", missing, "-o", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "no such object" in err and "anonymize/report/nothing.html" in err
    assert main(["get", f"{BASE}/anonymize", "-o", str(tmp_path / "x")]) == 2
    assert "is a prefix of 3 object(s)" in capsys.readouterr().err
    # tampered ciphertext: an integrity error naming no byte of the plaintext, and no output file
    obj = workspace / "objects" / "privml-local" / "privml" / "runs" / RUN / "anonymize" / "report" / "report.html.obj"
    data = bytearray(obj.read_bytes())
    data[-40] ^= 1
    obj.write_bytes(bytes(data))
    assert main(["get", run["report_html"], "-o", str(tmp_path / "r.html")]) == 2
    err = capsys.readouterr().err
    assert "failed authentication" in err and "report —" not in err and not (tmp_path / "r.html").exists()
    assert main(["get", "https://example.invalid/x"]) == 2


def test_ls_lists_a_prefix_with_sizes(run: dict[str, str], capsys) -> None:
    assert main(["ls", f"{BASE}/anonymize/"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[-1] for line in lines] == sorted([run["report_html"], run["report"], run["train"]])
    assert main(["ls", "--json"]) == 0
    listed = {row["uri"]: row["size"] for row in json.loads(capsys.readouterr().out)}
    assert set(listed) == set(run.values()) and listed[run["report_html"]] == len(HTML)


def test_runs_open_resolves_names_the_record_gives(run: dict[str, str], tmp_path: Path, capsys) -> None:
    assert main(["runs", "open", RUN]) == 0
    assert run["model_card"] in capsys.readouterr().out
    assert main(["runs", "open", RUN, "report_html", "-o", str(tmp_path / "r.html")]) == 0
    assert (tmp_path / "r.html").read_bytes() == HTML
    assert main(["runs", "open", RUN, "card", "-o", str(tmp_path / "card.md")]) == 0
    assert (tmp_path / "card.md").read_bytes() == b"# Model card\n"
    capsys.readouterr()
    assert main(["runs", "open", RUN, "model", "-o", str(tmp_path / "m")]) == 2
    err = capsys.readouterr().err
    assert "has no artifact 'model'" in err and "report_html" in err


def test_decrypt_takes_an_object_uri_too(run: dict[str, str], tmp_path: Path, capsys) -> None:
    assert main(["decrypt", run["report"], str(tmp_path / "report.json")]) == 0
    assert json.loads((tmp_path / "report.json").read_text()) == {"k": 5}
    assert main(["decrypt", run["report"], str(tmp_path / "r2.json"), "--context", "purpose=x"]) == 2
    assert "privml get" in capsys.readouterr().err
