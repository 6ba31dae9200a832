"""A moto server on 127.0.0.1 in a child process, for tests that talk to "AWS" over HTTP.

A child process rather than a thread of the test's own: the in-process mock the definition build uses
(`pipelines.sdk_env.offline_sdk`) resets moto's in-process state when it exits, so a server sharing the
test's process would lose what the test created. The server answers every service moto implements on one
port (point boto3 or the aws CLI at it with `endpoint_url` / `AWS_ENDPOINT_URL`).
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

_SERVER = """
import logging, sys
from moto.server import ThreadedMotoServer
requests = logging.getLogger("werkzeug")  # one line per request: method, path, status (never a body)
requests.propagate = False
if len(sys.argv) > 1:
    requests.addHandler(logging.FileHandler(sys.argv[1]))
    requests.setLevel(logging.INFO)
else:
    requests.setLevel(logging.ERROR)
server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
server.start()
host, port = server.get_host_and_port()
print(f"PORT={port}", flush=True)
sys.stdin.read()  # runs until the test closes stdin
server.stop()
"""


@contextlib.contextmanager
def moto_server(request_log: Path | None = None) -> Iterator[str]:
    """Start the server; yield its URL (http://127.0.0.1:PORT); stop it when the block ends.

    With `request_log`, the server appends one line per request to that file (method, path, status)."""
    command = [sys.executable, "-c", _SERVER, *([str(request_log)] if request_log else [])]
    proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        while line and not line.startswith("PORT="):
            line = proc.stdout.readline()
        if not line:
            raise RuntimeError("the moto server exited before announcing its port")
        yield f"http://127.0.0.1:{int(line.removeprefix('PORT='))}"
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
