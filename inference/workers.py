"""Worker processes for `privml serve --workers N`: one listening socket, N processes serving it.

The parent binds the socket and prepares the workspace state every process reads (TLS material, the
local credentials, the capture key), so that no two processes race to create them; then it forks. Each
process loads the model itself and runs its own event loop on the inherited socket, and the kernel hands
each new connection to one of them. Forking happens before any thread or model exists, so no lock or
thread pool is copied half-way.

A Python process scores on one core at a time (the GIL); more processes use more cores. Each keeps its
own model and capture buffer (capture files are named uniquely, so they never collide).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
from collections.abc import Callable

log = logging.getLogger("privml.endpoint")


def fork_workers(count: int, serve: Callable[[], None]) -> list[int]:
    """Fork `count` processes that each run `serve()` and exit; returns their process ids."""
    pids: list[int] = []
    for _ in range(count):
        pid = os.fork()
        if pid == 0:  # the worker: never return into the parent's code
            code = 0
            try:
                serve()
            except BaseException as exc:
                log.error("endpoint worker stopped: %s", type(exc).__name__)
                code = 1
            finally:
                os._exit(code)
        pids.append(pid)
    return pids


def stop_workers(pids: list[int], timeout: float = 10.0) -> None:
    """Ask the workers to finish (SIGTERM: uvicorn drains and exits), then reap them; kill stragglers."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    waiting = set(pids)
    deadline = time.monotonic() + timeout
    while waiting and time.monotonic() < deadline:
        for pid in list(waiting):
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                done = pid
            if done:
                waiting.discard(pid)
        time.sleep(0.05)
    for pid in waiting:
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
