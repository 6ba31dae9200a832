"""Scoring many concurrent requests with one model call: dynamic batching.

Each request is parsed on the event loop into a `Batch` of raw rows; while the model works on one
batch (in a worker thread, so the loop keeps reading and parsing), the requests that arrive queue up
and go into the next model call together. That amortizes the per-call cost of the privacy transform
and the model (pandas and scikit-learn have a fixed cost per call that dwarfs a single row) without
adding a wait: a lone request is scored at once.

When a combined call fails, each request is scored on its own, so one bad request fails alone.

Batches of up to `privml.serving.MAX_ROWS` rows go through the model's compiled form (the same
anonymization, encoding and classifier, row by row without pandas) on the event loop itself, since
that costs less than the hand-off to a thread. The pipeline never runs on the event loop: an input the
compiled form hands back, and every larger batch, goes to a bounded pool of model threads, each limited
to one native (OpenMP and BLAS) thread, so a slow batch holds one model thread and never the loop that
answers `/ping` and reads the other requests. While traffic is sequential, a request is scored as soon
as it is parsed, without the batching hand-off.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from inference.handler import Batch, InvalidInput, Prediction, column_plan, compiled_model, predict_fn, to_frame
from inference.handler import _compiled_prediction as compiled_prediction
from privml.errors import KeyUnavailable
from privml.serving import MAX_ROWS

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


class _NeedsPipeline(Exception):
    """The compiled form handed this input back: it goes to a model thread."""


class ModelFailed(Exception):
    """The model raised on input that parsed; the message carries only the exception type."""


# Traffic counts as sequential while recent batches average fewer requests than this; then one request
# in PROBE_EVERY still takes the batching path, to notice concurrency.
SEQUENTIAL_BELOW = 1.5
PROBE_EVERY = 8


class Scorer:
    def __init__(self, model: Any, *, max_batch_rows: int = 4096, threaded: bool = True,
                 gather_turns: int = 3, compiled: bool = True, model_threads: int = MODEL_THREADS) -> None:
        self.model = model
        self.compiled = compiled_model(model) if compiled else None
        self.compiled_calls = 0  # model calls the compiled form served, and those it handed back
        self.pipeline_fallbacks = 0
        self.gather_turns = gather_turns
        self.calls = 0  # model calls and the requests they served: the mean batch size
        self.requests = 0
        self.plan = column_plan(model)
        self.max_batch_rows = max_batch_rows
        self._executor = (
            ThreadPoolExecutor(model_threads, thread_name_prefix="privml-model", initializer=_single_threaded_math)
            if threaded else None
        )
        self._pending: list[tuple[Batch, asyncio.Future[Prediction]]] = []
        self.requests_per_call = 1.0  # recent requests per batched model call: ~1 means sequential traffic
        self._at_once = 0
        self.at_once_calls = 0
        self._draining = False
        self._task: asyncio.Task[None] | None = None

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True)

    # synchronous scoring, used by the worker thread and by in-process callers
    def score_one(self, batch: Batch, *, compiled_only: bool = False) -> Prediction:
        """Score one batch. `compiled_only` (on the event loop): the compiled form or `_NeedsPipeline`."""
        if compiled_only:
            fast = None if self.compiled is None or batch.n_rows > MAX_ROWS else compiled_prediction(
                batch, self.compiled)
            if fast is None:
                raise _NeedsPipeline
            self.compiled_calls += 1
            return fast
        try:
            prediction = predict_fn(batch if self.compiled is not None else to_frame(batch), self.model)
        except (InvalidInput, KeyUnavailable):
            raise  # KeyUnavailable: the endpoint's key store, not the request, is at fault
        except Exception as exc:  # the exception text may quote a value: keep only its type
            raise ModelFailed(type(exc).__name__) from None
        if prediction.compiled:
            self.compiled_calls += 1
        elif self.compiled is not None and batch.n_rows <= MAX_ROWS:
            self.pipeline_fallbacks += 1  # an input the compiled form handed back
        return prediction

    def _score_many(self, batches: list[Batch], *, compiled_only: bool = False) -> list[Prediction | Exception]:
        groups: dict[tuple[str, ...], list[int]] = {}
        keys: dict[int, tuple[str, ...]] = {}  # requests with a remembered CSV header share one columns list
        for i, b in enumerate(batches):
            key = keys.get(id(b.columns))
            if key is None:
                key = keys[id(b.columns)] = tuple(b.columns)
            groups.setdefault(key, []).append(i)
        results: list[Prediction | Exception | None] = [None] * len(batches)
        for members in groups.values():
            if len(members) > 1:
                try:
                    combined = self.score_one(Batch.concat([batches[i] for i in members]), compiled_only=compiled_only)
                except Exception:  # isolate the bad request(s) below
                    combined = None
                if combined is not None:
                    start = 0
                    for i in members:
                        results[i] = combined.slice(start, start + batches[i].n_rows)
                        start += batches[i].n_rows
                    continue
            for i in members:
                try:
                    results[i] = self.score_one(batches[i], compiled_only=compiled_only)
                except Exception as exc:
                    results[i] = exc
        return [r if r is not None else ModelFailed("no result") for r in results]

    def _compiled_covers(self, batches: list[Batch]) -> bool:
        return self.compiled is not None and sum(b.n_rows for b in batches) <= MAX_ROWS

    def _score_at_once(self, batch: Batch) -> bool:
        """Whether to score this request right here, skipping the batching hand-off: only while traffic
        is sequential (recent batches held one request each), nothing waits, and the compiled model
        covers it. Every `PROBE_EVERY`-th such request still goes through the batching path, which is
        how a rise in concurrency is noticed."""
        if self._draining or self._pending or self.requests_per_call > SEQUENTIAL_BELOW:
            return False
        if self.compiled is None or batch.n_rows > MAX_ROWS:
            return False
        self._at_once += 1
        return self._at_once % PROBE_EVERY != 0

    async def score(self, batch: Batch) -> Prediction:
        if self._score_at_once(batch):
            self.at_once_calls += 1
            self.calls += 1
            self.requests += 1
            try:
                return self.score_one(batch, compiled_only=self._executor is not None)
            except _NeedsPipeline:
                return await asyncio.get_running_loop().run_in_executor(self._executor, self.score_one, batch)
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
        if self._executor is None:
            return self._score_many(batches)
        if not self._compiled_covers(batches):
            return await loop.run_in_executor(self._executor, self._score_many, batches)
        results = self._score_many(batches, compiled_only=True)
        handed_back = [i for i, r in enumerate(results) if isinstance(r, _NeedsPipeline)]
        if handed_back:
            again = await loop.run_in_executor(self._executor, self._score_many, [batches[i] for i in handed_back])
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
