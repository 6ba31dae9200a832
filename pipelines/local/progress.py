"""Progress on stderr while a local execution runs: one line per step event, and on a terminal a bar
that redraws while a long job runs (steps done / total, and the running step's elapsed time)."""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO

_BAR_WIDTH = 24


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

    def step_finished(self, name: str, status: str, seconds: float, note: str = "") -> None:
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
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=1)
            with self._lock:
                self.stream.write("\r\033[K")
                self.stream.flush()
