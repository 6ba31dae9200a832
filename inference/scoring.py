"""Scoring many concurrent requests with one model call: dynamic batching.

Each request is parsed on the event loop into a `Batch` of raw rows; while the model works on one
batch, the requests that arrive queue up and go into the next model call together. That amortizes the
per-call cost of the privacy transform and the model (pandas and scikit-learn have a fixed cost per call
that dwarfs a single row) without adding a wait: a lone request is scored at once.

When a combined call fails, each request is scored on its own, so one bad request fails alone.

Which path scores a batch is the served model's decision (`privml.serving.model.ServedModel`); the
scorer only decides where each path runs. The compiled form (batches of up to `privml.serving.MAX_ROWS`
rows) runs on the event loop itself, since that costs less than a hand-off. The pipeline never runs on
the event loop: a batch the compiled form hands back, and every larger batch, goes to a model thread
(in-process endpoints) or to a bounded pool of worker processes (`inference.pipeline_pool`, a dedicated
server process), each limited to one native (OpenMP and BLAS) thread, so a slow batch never holds the
loop that answers `/ping` and reads the other requests. While traffic is sequential, a request is scored
as soon as it is parsed, without the batching hand-off.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from inference.pipeline_pool import PIPELINE_WORKERS, PipelinePool, Unpicklable
from privml.serving import MAX_ROWS
from privml.serving.cells import NotCompiled
from privml.serving.model import ModelFailed, Prediction, ServedModel
from privml.serving.payloads import Batch

__all__ = ["MODEL_THREADS", "ModelFailed", "Scorer"]

log = logging.getLogger("privml.endpoint")


MODEL_THREADS = 1  # pipeline calls at once: each holds the GIL most of the time, so more only queue


def _single_threaded_math() -> None:
    """Per-request batches are small: native thread pools (OpenMP in HGB predict, BLAS in linear models)
    only add overhead and take the cores the event loop needs. OpenMP limits apply to the calling (model)
    thread; BLAS limits are process-wide, which a serving process wants anyway."""
    with contextlib.suppress(Exception):
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=1, user_api="openmp")
        threadpool_limits(limits=1, user_api="blas")


# Traffic counts as sequential while recent batches average fewer requests than this; then one request
# in PROBE_EVERY still takes the batching path, to notice concurrency.
SEQUENTIAL_BELOW = 1.5
PROBE_EVERY = 8


class Scorer:
    """Batches concurrent requests for one `ServedModel`, which decides compiled or pipeline.

    `pipeline`: where the pipeline runs when the compiled form does not serve a batch: "thread" (a model
    thread in this process; in-process endpoints and tests), "process" (`inference.pipeline_pool`: worker
    processes, so the pipeline never holds the event loop's GIL; a dedicated server process) or "inline"
    (`threaded=False`: on the caller's thread)."""

    def __init__(self, model: Any, *, max_batch_rows: int = 4096, threaded: bool = True,
                 gather_turns: int = 3, compiled: bool = True, model_threads: int = MODEL_THREADS,
                 pipeline: str = "thread", pipeline_workers: int = PIPELINE_WORKERS) -> None:
        self.served = model if isinstance(model, ServedModel) else ServedModel(model, compiled=compiled)
        self.model = self.served.model
        self.compiled = self.served.compiled
        self.gather_turns = gather_turns
        self.calls = 0  # model calls and the requests they served: the mean batch size
        self.requests = 0
        self.plan = self.served.plan
        self.max_batch_rows = max_batch_rows
        self._executor: ThreadPoolExecutor | None = None
        self._pool: PipelinePool | None = None
        if threaded and pipeline == "process":
            try:
                self._pool = PipelinePool(self.model, pipeline_workers)
            except Unpicklable as exc:
                log.warning("the model cannot go to a worker process (%s): the pipeline runs in a thread", exc)
        if threaded and self._pool is None:
            self._executor = ThreadPoolExecutor(model_threads, thread_name_prefix="privml-model",
                                                initializer=_single_threaded_math)
        self.pipeline = "process" if self._pool is not None else "thread" if threaded else "inline"
        self._pending: list[tuple[Batch, asyncio.Future[Prediction]]] = []
        self.requests_per_call = 1.0  # recent requests per batched model call: ~1 means sequential traffic
        self._at_once = 0
        self.at_once_calls = 0
        self._draining = False
        self._task: asyncio.Task[None] | None = None

    @property
    def compiled_calls(self) -> int:
        return self.served.compiled_calls

    @property
    def pipeline_fallbacks(self) -> int:
        """Batches the compiled form handed back (an input it does not reproduce), scored by the pipeline."""
        from privml.serving.model import INPUT_HANDED_BACK

        return self.served.fallbacks[INPUT_HANDED_BACK]

    def counters(self) -> dict[str, Any]:
        return {**self.served.counters(), "pipeline": self.pipeline, "requests": self.requests,
                "model_calls": self.calls}

    def pipeline_pids(self) -> list[int]:
        return self._pool.pids() if self._pool is not None else []

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True)
        if self._pool is not None:
            self._pool.close()

    # synchronous scoring, used by the model thread and by in-process callers
    def score_one(self, batch: Batch) -> Prediction:
        """Score one batch here: the served model picks the path."""
        return self.served.score(batch)

    def _score_many(self, batches: list[Batch], *, compiled_only: bool = False) -> list[Prediction | Exception]:
        return self.served.score_many(batches, path="compiled" if compiled_only else "auto")

    async def _pipeline_many(self, loop: asyncio.AbstractEventLoop,
                             batches: list[Batch]) -> list[Prediction | Exception]:
        """The pipeline, off the event loop: in a worker process, or a model thread."""
        if self._pool is not None:
            results = await self._pool.score_many(batches)
            self.served.pipeline_calls += 1
            return results
        return await loop.run_in_executor(self._executor, self._pipeline_in_thread, batches)

    def _pipeline_in_thread(self, batches: list[Batch]) -> list[Prediction | Exception]:
        return self.served.score_many(batches, path="pipeline")

    def _compiled_covers(self, batches: list[Batch]) -> bool:
        return self.served.covers(sum(b.n_rows for b in batches))

    def _score_at_once(self, batch: Batch) -> bool:
        """Whether to score this request right here, skipping the batching hand-off: only while traffic
        is sequential (recent batches held one request each), nothing waits, and the compiled model
        covers it. Every `PROBE_EVERY`-th such request still goes through the batching path, which is
        how a rise in concurrency is noticed."""
        if self._draining or self._pending or self.requests_per_call > SEQUENTIAL_BELOW:
            return False
        if not self.served.covers(batch.n_rows):
            return False
        self._at_once += 1
        return self._at_once % PROBE_EVERY != 0

    async def score(self, batch: Batch) -> Prediction:
        if self._score_at_once(batch):
            self.at_once_calls += 1
            self.calls += 1
            self.requests += 1
            if self.pipeline == "inline":
                return self.served.score(batch)
            fast = self.served.score_compiled(batch)
            if fast is not None:
                return fast
            (result,) = await self._pipeline_many(asyncio.get_running_loop(), [batch])
            if isinstance(result, Exception):
                raise result
            return result
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Prediction] = loop.create_future()
        self._pending.append((batch, future))
        if not self._draining:
            self._draining = True
            self._task = loop.create_task(self._drain())  # keep a reference: tasks are weakly held
        return await future

    def _take(self) -> list[tuple[Batch, asyncio.Future[Prediction]]]:
        # With a compiled model, batches stay within what it serves (its cost per row is flat, so nothing is
        # gained by more); only a single request larger than that goes to the pipeline.
        limit = MAX_ROWS if self.compiled is not None else self.max_batch_rows
        count, rows = 0, 0
        pending = self._pending
        while count < len(pending) and (not count or rows + pending[count][0].n_rows <= limit):
            rows += pending[count][0].n_rows
            count += 1
        taken, self._pending = pending[:count], pending[count:]
        return taken

    async def _score_off_loop(self, loop: asyncio.AbstractEventLoop,
                              batches: list[Batch]) -> list[Prediction | Exception]:
        """The compiled form on the loop where it covers the batches; the rest in a model thread."""
        if self.pipeline == "inline":
            return self._score_many(batches)
        if not self._compiled_covers(batches):
            self.served.count_fallback(batches)  # the pipeline side never tries the compiled form
            return await self._pipeline_many(loop, batches)
        results = self._score_many(batches, compiled_only=True)
        handed_back = [i for i, r in enumerate(results) if isinstance(r, NotCompiled)]
        if handed_back:
            again = await self._pipeline_many(loop, [batches[i] for i in handed_back])
            for i, result in zip(handed_back, again, strict=True):
                results[i] = result
        return results

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._pending:
                # Let the loop turn a few times first: requests whose bytes arrived while the model
                # was busy get read, parsed and queued, so they join this batch instead of the next.
                for _ in range(self.gather_turns):
                    await asyncio.sleep(0)
                taken = self._take()
                batches = [b for b, _ in taken]
                self.calls += 1
                self.requests += len(batches)
                self.requests_per_call += (len(batches) - self.requests_per_call) / 4  # moving average
                try:
                    results = await self._score_off_loop(loop, batches)
                except Exception as exc:  # pragma: no cover - _score_many catches per request
                    results = [ModelFailed(type(exc).__name__)] * len(taken)
                for (_, fut), res in zip(taken, results, strict=True):
                    if fut.done():  # the client went away
                        continue
                    if isinstance(res, Exception):
                        fut.set_exception(res)
                    else:
                        fut.set_result(res)
        finally:
            self._draining = False
