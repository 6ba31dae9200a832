"""Progress on stderr while a local execution runs: one line per step event, on a terminal a bar that
redraws while a long job runs (steps done / total, and the running step's elapsed time), and the progress
lines the running job writes to its log (privml.models.progress: iterations, time left) as they come."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path
from typing import TextIO

_BAR_WIDTH = 24
# A job's log lines that are progress, as privml's job runner formats them (`INFO <logger>: <message>`);
# only these are shown: the rest of a job log stays in the job directory (and the failure reason).
JOB_PROGRESS_PREFIX = "INFO privml.models.progress: "
_FOLLOW_POLL_SECONDS = 0.5
_MAX_LINE = 300


class Progress:
    def __init__(self, total: int, *, stream: TextIO | None = None, enabled: bool = True,
                 bar: bool | None = None) -> None:
        self.total = max(total, 1)
        self.done = 0
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.bar = (self.stream.isatty() if bar is None else bar) and enabled
        self._current: tuple[str, float] | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._follow: tuple[threading.Thread, threading.Event] | None = None

    def line(self, text: str) -> None:
        if not self.enabled:
            return
        with self._lock:
            if self.bar:
                self.stream.write("\r\033[K")
            self.stream.write(text + "\n")
            self.stream.flush()

    def step_started(self, name: str, kind: str) -> None:
        self.line(f"[{self.done + 1}/{self.total}] {name} ({kind}) …")
        self._current = (name, time.perf_counter())
        if self.bar and self._thread is None:
            self._thread = threading.Thread(target=self._tick, daemon=True)
            self._thread.start()

    def follow_job_log(self, name: str, log: Path) -> None:
        """Show the job's progress lines from its log file (written by the job; read as it grows) until
        the step finishes. A file that is not there yet is waited for."""
        if not self.enabled:
            return
        self.stop_following()
        stop = threading.Event()
        thread = threading.Thread(target=self._follow_lines, args=(name, log, stop), daemon=True)
        self._follow = (thread, stop)
        thread.start()

    def _follow_lines(self, name: str, log: Path, stop: threading.Event) -> None:
        position, pending = 0, b""
        while True:
            last_pass = stop.is_set()  # one more read after the step ends: its last lines are shown too
            try:
                with log.open("rb") as fh:
                    fh.seek(position)
                    chunk = fh.read()
                    position = fh.tell()
            except OSError:
                chunk = b""
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for raw in lines:
                text = raw.decode("utf-8", "replace")
                if text.startswith(JOB_PROGRESS_PREFIX):
                    self.line(f"      {name}: {text[len(JOB_PROGRESS_PREFIX):][:_MAX_LINE]}")
            if last_pass:
                return
            stop.wait(_FOLLOW_POLL_SECONDS)

    def stop_following(self) -> None:
        """Stop showing the job's log (its last lines are read first); before the job directory is wiped."""
        if self._follow is not None:
            thread, stop = self._follow
            stop.set()
            thread.join(timeout=2)
            self._follow = None

    def step_finished(self, name: str, status: str, seconds: float, note: str = "") -> None:
        self.stop_following()
        self._current = None
        self.done += 1
        mark = {"Succeeded": "ok", "Failed": "FAILED", "Skipped": "skipped", "NotRun": "not run"}.get(status, status)
        self.line(f"      {name}: {mark} in {seconds:.1f}s" + (f" — {note}" if note else ""))

    def _render(self) -> str:
        filled = int(_BAR_WIDTH * self.done / self.total)
        bar = "#" * filled + "-" * (_BAR_WIDTH - filled)
        current = self._current
        tail = f" {current[0]} {time.perf_counter() - current[1]:.0f}s" if current else ""
        return f"[{bar}] {self.done}/{self.total}{tail}"

    def _tick(self) -> None:
        while not self._stop.wait(0.5):
            if self._current is None:
                continue
            with self._lock:
                self.stream.write("\r\033[K" + self._render())
                self.stream.flush()

    def close(self) -> None:
        self.stop_following()
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=1)
            with self._lock:
                self.stream.write("\r\033[K")
                self.stream.flush()
