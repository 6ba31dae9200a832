"""The benchmarks' endpoint server: `python -m inference.server` in its own process, as `privml serve`
runs it (bench_endpoint.py and bench_ping.py both start it here)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


class Server:
    """A server process on 127.0.0.1 (an ephemeral port): the model in `model_dir`, or the no-op ceiling
    when it is None. `.port`, `.ca`, `.name`; `.stop()` interrupts it as Ctrl-C would."""

    def __init__(self, workspace: Path, model_dir: Path | None, name: str = "privml", capture: str = "Output",
                 workers: int = 1, extra: tuple[str, ...] = ()) -> None:
        self.ready = workspace / f"ready-{'noop' if model_dir is None else 'model'}-{capture}"
        self.ready.unlink(missing_ok=True)
        args = [sys.executable, "-m", "inference.server", "--port", "0", "--name", name,
                "--ready-file", str(self.ready), "--capture", capture, "--workers", str(workers), *extra]
        args += ["--noop"] if model_dir is None else [str(model_dir)]
        env = {**os.environ, "PRIVML_WORKSPACE": str(workspace)}
        self.proc = subprocess.Popen(args, cwd=REPO, env=env)
        deadline = time.monotonic() + 120
        while not self.ready.exists() or len(self.ready.read_text().splitlines()) < 2:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("server did not start")
            time.sleep(0.1)
        if workers > 1:
            time.sleep(5)  # the ready file is the parent's: give the other workers time to load the model
        port, ca = self.ready.read_text().splitlines()[:2]
        self.port, self.ca = int(port), ca
        self.name = name

    def children(self) -> list[int]:
        """The server's child processes (pipeline workers, `--workers` processes)."""
        path = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        try:
            return [int(pid) for pid in path.read_text().split()]
        except OSError:
            return []

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
