"""`privml serve --workers N`: N processes serve one port; each answers on its own, and none outlives the parent."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from inference.credentials import load_or_create_credentials
from tests.inference.conftest import save_model_dir
from tests.signing import SigV4

REPO = Path(__file__).resolve().parents[2]


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads the process tree from /proc")
def test_workers_share_the_port_and_stop_with_the_parent(fitted_model, model_workspace: Path, tmp_path: Path,
                                                         raw_requests) -> None:
    model_dir = save_model_dir(fitted_model, tmp_path / "model", model_workspace)
    ready = tmp_path / "ready"
    env = {**os.environ, "PRIVML_WORKSPACE": str(model_workspace)}
    server = subprocess.Popen([sys.executable, "-m", "inference.server", str(model_dir), "--port", "0",
                               "--workers", "2", "--ready-file", str(ready)], cwd=REPO, env=env)
    try:
        deadline = time.monotonic() + 60
        while not (ready.exists() and len(ready.read_text().splitlines()) == 2):
            assert server.poll() is None and time.monotonic() < deadline, "server did not start"
            time.sleep(0.1)
        port, ca = ready.read_text().splitlines()
        # the `--workers` process; each server process also has its pipeline worker (inference/pipeline_pool.py)
        (worker,) = [pid for pid in _children(server.pid)
                     if b"multiprocessing" not in Path(f"/proc/{pid}/cmdline").read_bytes()]
        body = raw_requests.head(2).to_csv(index=False)
        credentials = load_or_create_credentials(model_workspace)

        def ask() -> requests.Response:
            with requests.Session() as session:  # a new connection: the kernel picks a process for it
                return session.post(f"https://localhost:{port}/invocations", data=body, verify=ca, timeout=30,
                                    headers={"Content-Type": "text/csv"}, auth=SigV4(credentials))

        assert ask().status_code == 200
        os.kill(server.pid, signal.SIGSTOP)  # the parent cannot answer: the worker must
        try:
            answers = [ask() for _ in range(3)]
        finally:
            os.kill(server.pid, signal.SIGCONT)
        assert [a.status_code for a in answers] == [200] * 3
        assert all(len(a.text.split()) == 2 for a in answers)
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)
    assert server.returncode == 0
    deadline = time.monotonic() + 10
    while _alive(worker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(worker)


def test_workers_must_be_at_least_one() -> None:
    from inference.server import serve_forever
    from privml.errors import PrivmlError

    with pytest.raises(PrivmlError, match="--workers"):
        serve_forever(None, noop=True, port=0, workers=0)
