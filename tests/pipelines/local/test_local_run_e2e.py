"""`privml run --local` end to end (the real definition, jobs, endpoint), and the leak test: canaries
planted in the raw data's identifier columns appear in plaintext nowhere under the workspace."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[3]
ROWS = 400


# Runs the CLI with an audit hook that logs every name lookup or connection to a non-loopback host.
WATCHED = """
import ipaddress, sys
log = open(sys.argv[1], "a")
def loopback(host):
    host = host.decode() if isinstance(host, bytes) else str(host)
    if host in ("localhost", "None"):
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False
def hook(event, args):
    if event in ("socket.getaddrinfo", "socket.gethostbyname") and args[0] is not None and not loopback(args[0]):
        log.write(f"{event} {args[0]}\\n"); log.flush()
    if event == "socket.connect" and isinstance(args[1], tuple) and not loopback(args[1][0]):
        log.write(f"{event} {args[1][0]}\\n"); log.flush()
sys.addaudithook(hook)
from privml.cli import main
sys.exit(main(sys.argv[2:]))
"""


def privml(workspace: Path, *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PRIVML_WORKSPACE": str(workspace),
           "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)}
    netlog = workspace.parent / "network.log"
    proc = subprocess.run([sys.executable, "-c", WATCHED, str(netlog), *args], cwd=workspace.parent, env=env,
                          text=True, capture_output=True, timeout=timeout)
    assert not netlog.exists() or netlog.read_text() == "", f"network calls beyond loopback: {netlog.read_text()}"
    return proc


def _check_record(record: dict[str, Any]) -> None:
    assert record["status"] == "Succeeded", record.get("failure_reason")
    steps = {s["name"]: s for s in record["steps"]}
    assert [steps[n]["status"] for n in ("PrepareKeys", "Anonymize", "Train", "Evaluate", "Gates",
                                         "CreateModel")] == ["Succeeded"] * 6
    assert steps["GateFailed"]["status"] == "Skipped"
    for name in ("Anonymize", "Train", "Evaluate"):
        controls = steps[name]["controls"]
        assert controls["network_isolation"].startswith(("enforced", "emulated"))
        assert controls["output_kms"].startswith("enforced")
        assert controls["volume_kms"].startswith("emulated")
    for key in ("train", "validation", "test", "report", "transformer", "model"):
        assert record["artifacts"][key].startswith("s3://"), key
    assert record["privacy"]["k"] >= 2 and "prosecutor_max" in record["privacy"]["risk"]
    assert 0.0 <= record["metrics"]["accuracy"] <= 1.0
    endpoint = record["endpoint"]
    assert endpoint["url"].startswith(("https://127.0.0.1:", "https://localhost:"))
    assert endpoint["smoke_request"]["status"] == 200
    assert endpoint["serving"]["program"] == "privml_inference.py"  # the artifact, loaded as the container does


@pytest.mark.slow
def test_run_local_on_sample_data(workspace: Path) -> None:
    proc = privml(workspace, "run", "--local", "--rows", str(ROWS), "--json")
    assert proc.returncode == 0, proc.stderr[-3000:]
    record = json.loads(proc.stdout)
    _check_record(record)
    assert "[1/7] PrepareKeys (Processing)" in proc.stderr  # progress on stderr
    assert "[2/7] Anonymize (Processing)" in proc.stderr
    # the Train job's own progress lines, followed from its log while it runs
    assert "      Train: training hgb: fitting HistGradientBoostingClassifier" in proc.stderr
    assert "      Train: training hgb: done, " in proc.stderr
    card = privml(workspace, "get", record["artifacts"]["model_card"], "-o", "-").stdout
    assert "Training ran local (privml's local executor); the definition asks ml." in card
    assert record["artifacts"]["card_html"].endswith("/model_card.html")
    listed = privml(workspace, "runs", "list", "--json")
    assert [r["run_id"] for r in json.loads(listed.stdout)] == [record["run_id"]]
    shown = json.loads(privml(workspace, "runs", "show", record["run_id"], "--json").stdout)
    assert shown["artifacts"] == record["artifacts"]


CANARY_COLUMNS = {"name": "Zyxwvut Canaryname", "email": "canary.zyxwvut@example.org", "ssn": "987-65-4329",
                  "phone": "(555) 013-9876", "street_address": "4242 Canaryplatz Road"}


@pytest.mark.slow
def test_no_identifier_canary_in_plaintext_under_the_workspace(workspace: Path, tmp_path: Path) -> None:
    from privml.sampledata import generate

    df = generate(rows=ROWS, seed=3)
    planted = {}
    for column, canary in CANARY_COLUMNS.items():
        if column in df.columns:
            df[column] = df[column].astype(object)
            for i in range(0, len(df), 97):  # including row 0: the endpoint smoke request sends the first rows
                df.loc[i, column] = canary
            planted[column] = canary
    assert len(planted) >= 3
    data = tmp_path / "people.csv"  # outside the workspace: the user's own file
    df.to_csv(data, index=False)
    # a low quality bar: this test is about leaks, and needs the whole flow including the endpoint to run
    proc = privml(workspace, "run", "--local", "--data", str(data), "--param", "QualityThreshold=0.5", "--json")
    assert proc.returncode == 0, proc.stderr[-3000:]
    record = json.loads(proc.stdout)
    _check_record(record)
    # --data without --policy: the scanned policy is used, announced, and kept next to the record
    assert "using the policy `privml scan` proposes" in proc.stderr
    assert (workspace / "runs" / record["run_id"] / "policy.yaml").is_file()
    assert record["parameters"]["QualityThreshold"] == 0.5
    needles = {c: v.encode() for c, v in planted.items()}
    needles |= {f"{c}-lower": v.lower().encode() for c, v in planted.items()}
    files = [p for p in workspace.rglob("*") if p.is_file()]
    assert len(files) > 10
    leaks = [(str(p.relative_to(workspace)), c) for p in files for c, n in needles.items() if n in p.read_bytes()]
    assert leaks == []
    for stream in (proc.stdout, proc.stderr):
        assert not any(v in stream for v in planted.values())
