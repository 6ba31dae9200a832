"""A bounded pool of worker processes for the pipeline, so that the fallback never shares a GIL with the
event loop that answers `/ping` and reads requests.

A thread pool takes the pipeline off the event loop, but pandas and scikit-learn hold the GIL for most of
a call, so under load the loop waits for it (the bench measured /ping p99 at 59-74 ms with the pipeline
on a thread). Here each worker is a process with one native (OpenMP, BLAS) thread.

- The model reaches a worker through the pool's start pipe as skops bytes in memory, loaded by the
  same trusted-type loader as `model.skops` (`privml.models.persistence`): nothing decrypted is written
  to disk, and the worker constructs only types privml trusts. Serializing a `PrivacyTransformer` leaves
  out its runtime state (derived secrets, the bound key provider), so each worker binds its own provider
  as the endpoint did: the one the parent bound when it can be pickled (an object of the parent's own
  making, never read from a file or a request), else the one PRIVML_KEY_PROVIDER names, else the
  transformer's default.
- Workers are started with `spawn` (a fresh interpreter: no lock or thread of the parent is copied)
  when the pool is created, before the first request needs them.
- A worker exits when its parent does: a watchdog thread polls the parent's pid; SIGINT is ignored
  so that Ctrl-C in a terminal stops the server, which then stops the pool.
- A worker logs nothing and returns outcomes, never exceptions: a prediction, or the kind of failure
  (bad input with its value-free message, unusable keys, or a model failure named by exception type),
  which the parent maps to the same 4xx/5xx as an in-process call. A worker that dies fails its
  requests with `WorkerLost` (a 500) and the pool is rebuilt.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import pickle
import signal
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from privml.errors import KeyUnavailable
from privml.models.persistence import dumps_model
from privml.serving.model import ModelFailed, Prediction, ServedModel
from privml.serving.payloads import Batch, InvalidInput

log = logging.getLogger("privml.endpoint")

PIPELINE_WORKERS = 1  # the endpoint's event loop needs a core of its own; more workers only contend


class WorkerLost(Exception):
    """A pipeline worker process died while scoring (a 500: the server's failure, not the request's)."""


class Unpicklable(Exception):
    """The model cannot be sent to a worker process: skops cannot write it with trusted types only (e.g. a
    step patched with a local function)."""


# --------------------------------------------------------------------------------------------------
# in the worker

_WORKER_MODEL: ServedModel | None = None


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(0.2)
    os._exit(0)  # the parent is gone: no one reads an answer


def _worker_start(model_bytes: bytes, provider_bytes: bytes | None, parent: int) -> None:
    global _WORKER_MODEL
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_watch_parent, args=(parent,), name="privml-parent-watch", daemon=True).start()
    logging.disable(logging.CRITICAL)  # a worker's messages could only duplicate the parent's
    with contextlib.suppress(Exception):
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=1, user_api="openmp")
        threadpool_limits(limits=1, user_api="blas")
    from inference.handler import bind_key_provider
    from privml.models.persistence import loads_model

    model = loads_model(model_bytes, "<the endpoint's model>")

    bind_key_provider(model, pickle.loads(provider_bytes) if provider_bytes else None)  # noqa: S301
    _WORKER_MODEL = ServedModel(model, compiled=False)


def _worker_score(batches: list[Batch]) -> list[tuple[str, Any]]:
    assert _WORKER_MODEL is not None
    outcomes: list[tuple[str, Any]] = []
    for result in _WORKER_MODEL.score_many(batches):
        if isinstance(result, Prediction):
            outcomes.append(("ok", result))
        elif isinstance(result, InvalidInput):
            outcomes.append(("invalid", (str(result), result.status)))
        elif isinstance(result, KeyUnavailable):
            outcomes.append(("keys", None))
        else:
            outcomes.append(("failed", str(result) if isinstance(result, ModelFailed) else type(result).__name__))
    return outcomes


def _worker_ready() -> int:
    return os.getpid()


# --------------------------------------------------------------------------------------------------
# in the parent


def _outcome(kind: str, detail: Any) -> Prediction | Exception:
    if kind == "ok":
        return detail
    if kind == "invalid":
        message, status = detail
        error = InvalidInput(message)
        error.status = status
        return error
    if kind == "keys":
        return KeyUnavailable("the endpoint cannot use its privacy keys")
    return ModelFailed(detail)


def _provider_bytes(model: Any) -> bytes | None:
    """The privacy step's bound key provider, pickled, when it can be (else the worker binds its own)."""
    steps = getattr(model, "steps", None)
    provider = getattr(steps[0][1], "_provider", None) if steps else None
    if provider is None:
        return None
    try:
        return pickle.dumps(provider)
    except Exception:
        return None


class PipelinePool:
    """`await pool.score_many(batches)`: each batch's Prediction or exception, scored in a worker."""

    def __init__(self, model: Any, workers: int = PIPELINE_WORKERS) -> None:
        try:
            self._model_bytes = dumps_model(model)
        except Exception as exc:  # skops raises several types for what it cannot write; PrivmlError if untrusted
            raise Unpicklable(type(exc).__name__) from None
        self._provider_bytes = _provider_bytes(model)
        self.workers = workers
        self._executor = self._start()

    def _start(self) -> ProcessPoolExecutor:
        executor = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                       initializer=_worker_start,
                                       initargs=(self._model_bytes, self._provider_bytes, os.getpid()))
        # start them now, off any event loop: the first fallback request should not wait for an interpreter
        for future in [executor.submit(_worker_ready) for _ in range(self.workers)]:
            future.result(timeout=120)
        return executor

    def pids(self) -> list[int]:
        return [p.pid for p in (self._executor._processes or {}).values() if p.pid is not None]

    async def score_many(self, batches: list[Batch]) -> list[Prediction | Exception]:
        loop = asyncio.get_running_loop()
        try:
            outcomes = await loop.run_in_executor(self._executor, _worker_score, batches)
        except BrokenProcessPool:
            log.error("a pipeline worker stopped; starting a new pool")
            old, self._executor = self._executor, await asyncio.to_thread(self._start)
            old.shutdown(wait=False, cancel_futures=True)
            return [WorkerLost("pipeline worker stopped") for _ in batches]
        return [_outcome(kind, detail) for kind, detail in outcomes]

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
