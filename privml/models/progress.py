"""Progress of a long fit, in the job log: iterations done of the most the model may run, elapsed time and
an estimate of the time left. Value-free: the lines carry counts and seconds only, never data.

scikit-learn has no fit callbacks. Refitting a boosted model in warm_start stages gives the same model, but
each stage re-bins the data and re-predicts every tree fitted so far: measured at twice the time of one fit
for ten stages (30,000 rows, 200 iterations). So the fit runs once, as it would without progress, and a
watcher thread reads how many boosting iterations it has finished (the estimator's list of fitted
predictors, which it grows one iteration at a time). A model that exposes no such count (linear, naive
Bayes, the DP models) gets a line when its fit starts and one when it ends.

Log volume is bounded: a line when a further tenth of the iterations is done, at most one every
`min_interval` seconds, and a heartbeat when `heartbeat` seconds pass without one.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# The job log's lines of this logger are what the local CLI shows while the job runs
# (privml's job runner logs as `LEVEL name: message`).
LOGGER_NAME = __name__
log = logging.getLogger(LOGGER_NAME)
POLL_SECONDS = 0.5
MIN_INTERVAL_SECONDS = 5.0
HEARTBEAT_SECONDS = 60.0


def _boosting_iterations(estimator: Any) -> Callable[[], int] | None:
    """How many boosting iterations a HistGradientBoosting* fit has finished so far, or None when the
    estimator is not one (or no longer keeps its predictors where this reads them)."""
    if not hasattr(estimator, "max_iter") or not hasattr(type(estimator), "_raw_predict"):
        return None

    def done() -> int:
        return len(getattr(estimator, "_predictors", None) or ())

    return done


@dataclass
class ProgressLine:
    """When to write the next line; separated from the thread so that its rule can be tested alone."""

    total: int
    min_interval: float = MIN_INTERVAL_SECONDS
    heartbeat: float = HEARTBEAT_SECONDS
    _last_tenth: int = 0
    _last_time: float = 0.0

    def due(self, done: int, now: float) -> bool:
        tenth = min(10, done * 10 // max(self.total, 1))
        since = now - self._last_time
        if (tenth > self._last_tenth and since >= self.min_interval) or since >= self.heartbeat:
            self._last_tenth, self._last_time = tenth, now
            return True
        return False


def describe(what: str, done: int, total: int, elapsed: float, *, upper_bound: bool) -> str:
    """One progress line: `<what>: iteration 80/200 (40%), 12s elapsed, about 18s left`."""
    share = done / total if total else 0.0
    text = f"{what}: iteration {done}/{'at most ' if upper_bound else ''}{total} ({share:.0%}), " \
           f"{elapsed:.0f}s elapsed"
    if 0 < done < total:
        left = elapsed / done * (total - done)
        text += f", {'at most ' if upper_bound else ''}about {left:.0f}s left"
    return text


def fit(
    estimator: Any,
    X: Any,
    y: Any,
    *,
    what: str = "training",
    min_interval: float = MIN_INTERVAL_SECONDS,
    heartbeat: float = HEARTBEAT_SECONDS,
    poll: float = POLL_SECONDS,
    clock: Callable[[], float] = time.perf_counter,
) -> Any:
    """`estimator.fit(X, y)`, with its progress in the job log. Returns the fitted estimator."""
    counter = _boosting_iterations(estimator)
    started = clock()
    if counter is None:
        log.info("%s: fitting %s", what, type(estimator).__name__)
        estimator.fit(X, y)
        log.info("%s: done in %.1fs", what, clock() - started)
        return estimator
    total = int(estimator.max_iter)
    # with early stopping the fit may end before max_iter: the total and the estimate are upper bounds
    upper_bound = estimator.early_stopping not in (False, "auto") or (
        estimator.early_stopping == "auto" and getattr(X, "shape", (0,))[0] > 10_000)
    log.info("%s: fitting %s, %s%d iterations", what, type(estimator).__name__,
             "at most " if upper_bound else "", total)
    rule = ProgressLine(total, min_interval, heartbeat, 0, started)
    stop = threading.Event()

    def watch() -> None:
        while not stop.wait(poll):
            done, now = counter(), clock()
            if rule.due(done, now):
                log.info("%s", describe(what, done, total, now - started, upper_bound=upper_bound))

    watcher = threading.Thread(target=watch, name="privml-fit-progress", daemon=True)
    watcher.start()
    try:
        estimator.fit(X, y)
    finally:
        stop.set()
        watcher.join()
    done = int(getattr(estimator, "n_iter_", counter()))
    log.info("%s: done, %d iteration(s) in %.1fs%s", what, done, clock() - started,
             " (stopped early: no improvement on the held-out part of the train split)" if done < total else "")
    return estimator
