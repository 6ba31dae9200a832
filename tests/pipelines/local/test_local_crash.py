"""kill -9 of the runner mid-step (while the job runs, and while outputs are being published), then a
rerun: it completes, and no half-written object is ever visible in the store."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from conftest import BUCKET, Defs, definition, make_store

from pipelines.local.executor import LocalExecutor
from pipelines.local.records import list_records
from privml.crypto.local_kms import LocalKms

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]

JOB = """
import os, pathlib, sys, time
out = pathlib.Path("/opt/ml/processing/output/out"); out.mkdir(parents=True, exist_ok=True)
for i in range(3):
    (out / f"part-{i}.csv").write_text("x\\n" * 1000)
marker = pathlib.Path(os.environ["HOME"]) / "started"
marker.write_text(str(os.getpid()))
time.sleep(float(sys.argv[1]))
"""

RUNNER = """
import json, os, signal, sys
sys.path.insert(0, {here!r})
from conftest import make_store
from pipelines.local.executor import LocalExecutor
from privml.crypto.local_kms import LocalKms
ws = __import__("pathlib").Path({ws!r})
kms = LocalKms.open(ws)
store = make_store(ws, kms)
if {die_on_put}:
    real = store.put_file
    count = {{"n": 0}}
    def put_then_die(*a, **k):
        real(*a, **k)
        count["n"] += 1
        if count["n"] == 2:
            os.kill(os.getpid(), signal.SIGKILL)
    store.put_file = put_then_die
LocalExecutor(json.loads(open({defn!r}).read()), store=store, kms=kms, workspace=ws).run()
"""


def _definition(defs: Defs, tmp: Path, sleep: str) -> Path:
    code = defs.code("slow", JOB)
    step = Defs.processing("Slow", code, "slow.py", args=[{"Get": "Parameters.Sleep"}],
                           outputs=[("out", f"s3://{BUCKET}/out/slow", "/opt/ml/processing/output/out")])
    path = tmp / "definition.json"
    path.write_text(json.dumps(definition([step], [{"Name": "Sleep", "Type": "String", "DefaultValue": sleep}])))
    return path


def _start(workspace: Path, defn: Path, die_on_put: bool) -> subprocess.Popen[bytes]:
    script = RUNNER.format(here=str(HERE), ws=str(workspace), defn=str(defn), die_on_put=die_on_put)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-c", script], env=env, cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _every_visible_object_is_whole(store: Any) -> list[str]:
    uris = store.list(f"s3://{BUCKET}/out/")
    for uri in uris:
        assert store.get_bytes(uri) == b"x\n" * 1000  # decrypts and authenticates: not half-written
    return uris


def _rerun_completes(defs: Defs, tmp: Path, workspace: Path) -> dict[str, Any]:
    kms = LocalKms.open(workspace)
    store = make_store(workspace, kms)
    defn = json.loads(_definition(defs, tmp, "0").read_text())
    record = LocalExecutor(defn, store=store, kms=kms, workspace=workspace).run()
    assert record["status"] == "Succeeded", record["failure_reason"]
    assert len(_every_visible_object_is_whole(store)) == 3
    assert list((workspace / "scratch").iterdir()) == []  # the killed run's job directory was wiped
    statuses = sorted(r["status"] for r in list_records(workspace))
    assert statuses == ["Failed", "Succeeded"]  # the killed run is marked interrupted
    return record


def test_kill_9_while_the_job_runs_then_rerun(defs: Defs, store: Any, workspace: Path, tmp_path: Path) -> None:
    proc = _start(workspace, _definition(defs, tmp_path, "60"), die_on_put=False)
    deadline = time.monotonic() + 60
    markers: list[Path] = []
    while time.monotonic() < deadline and not markers:
        markers = list((workspace / "scratch").glob("*/Slow/algo-1/home/started"))
        time.sleep(0.05)
    assert markers, proc.communicate(timeout=5)
    job_pid = int(markers[0].read_text() or 0)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert _every_visible_object_is_whole(store) == []  # nothing published mid-step
    time.sleep(0.5)
    if job_pid:  # the job died with its runner (PR_SET_PDEATHSIG); pid as seen from the job's namespace
        assert not Path(f"/proc/{job_pid}/cmdline").exists() or b"slow.py" not in Path(
            f"/proc/{job_pid}/cmdline").read_bytes()
    _rerun_completes(defs, tmp_path, workspace)


def test_kill_9_while_publishing_then_rerun(defs: Defs, store: Any, workspace: Path, tmp_path: Path) -> None:
    proc = _start(workspace, _definition(defs, tmp_path, "0"), die_on_put=True)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    visible = _every_visible_object_is_whole(store)
    assert len(visible) == 2  # killed after two of three puts: each put is whole
    journals = list((workspace / "scratch").glob("*/journal-Slow.json"))
    assert len(journals) == 1  # the publication is known to be incomplete
    _rerun_completes(defs, tmp_path, workspace)
