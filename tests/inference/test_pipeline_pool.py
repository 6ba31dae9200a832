"""The pipeline in worker processes (inference/pipeline_pool.py): the same answers and the same errors as in
process, one native thread per worker, no value in what crosses back, and no worker outliving its parent."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.pipeline import Pipeline

from inference.handler import JSON, parse_payload
from inference.pipeline_pool import PipelinePool, _worker_score
from inference.scoring import Scorer
from privml.serving.model import FORCED, ModelFailed, ServedModel
from privml.serving.payloads import Batch, InvalidInput
from tests.inference.model_factory import LABEL, raw_table

REPO = Path(__file__).resolve().parents[2]


def _rows(n: int, seed: int = 5) -> list[dict[str, Any]]:
    return raw_table(n + 5, seed=seed).drop(columns=[LABEL]).head(n).to_dict(orient="records")


@pytest.fixture(scope="module")
def pool_scorer(fitted_model: Pipeline, model_workspace: Path) -> Any:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PRIVML_WORKSPACE", str(model_workspace))
        scorer = Scorer(fitted_model, compiled=False, pipeline="process")
    yield scorer
    scorer.close()


def test_worker_processes_score_as_the_pipeline_does(pool_scorer: Scorer, fitted_model: Pipeline) -> None:
    assert pool_scorer.pipeline == "process" and len(pool_scorer.pipeline_pids()) == 1
    plan = pool_scorer.plan
    bodies = [json.dumps(_rows(1 + i % 3, seed=i)) for i in range(12)]
    batches = [parse_payload(b, JSON, plan) for b in bodies]
    # a batch without a required column (the parser refuses such a request; the pipeline must too)
    batches[4] = Batch([c for c in batches[4].columns if c != "age"], batches[4].values, batches[4].n_rows)

    async def run() -> list[Any]:
        return await asyncio.gather(*(pool_scorer.score(b) for b in batches), return_exceptions=True)

    results = asyncio.run(run())
    in_process = ServedModel(fitted_model, compiled=False)
    for i, (body, result) in enumerate(zip(bodies, results, strict=True)):
        if i == 4:
            assert isinstance(result, InvalidInput) and result.status == 400
            assert str(result) == "missing column(s): age"
            continue
        expected = in_process.score_pipeline(parse_payload(body, JSON, plan))
        assert result.labels == expected.labels and not result.compiled
        # batched with other requests in the worker: BLAS may round a row differently by batch shape
        np.testing.assert_allclose(np.asarray(result.probabilities), np.asarray(expected.probabilities), atol=1e-12)
    assert pool_scorer.served.fallbacks[FORCED] == len(bodies) and 1 <= pool_scorer.served.pipeline_calls < len(bodies)


def test_a_failure_in_a_worker_comes_back_as_its_type_only() -> None:
    """What crosses the pipe from a worker is an outcome, never an exception whose text could quote a value."""
    import inference.pipeline_pool as pool

    class Boom:
        plan = None

        def score_many(self, batches: Any) -> list[Any]:
            return [ModelFailed("ValueError"), InvalidInput("missing column(s): age")]

    pool._WORKER_MODEL = Boom()  # type: ignore[assignment]
    try:
        outcomes = _worker_score([])
    finally:
        pool._WORKER_MODEL = None
    assert outcomes == [("failed", "ValueError"), ("invalid", ("missing column(s): age", 400))]


def _native_threads() -> dict[str, int]:
    from threadpoolctl import threadpool_info

    return {i["user_api"]: i["num_threads"] for i in threadpool_info()}


def test_workers_run_with_one_native_thread(pool_scorer: Scorer) -> None:
    assert pool_scorer._pool is not None
    seen = pool_scorer._pool._executor.submit(_native_threads).result(timeout=60)
    assert seen and all(n == 1 for n in seen.values()), seen


_ORPHAN = """
import os, sys, time
sys.path.insert(0, {repo!r})
os.environ["PRIVML_WORKSPACE"] = {ws!r}
from tests.inference.model_factory import build
from inference.pipeline_pool import PipelinePool
pool = PipelinePool(build(rows=300, kind="logreg"))
print(" ".join(map(str, pool.pids())), flush=True)
time.sleep(120)
"""


def test_workers_die_with_their_parent(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir(mode=0o700)
    parent = subprocess.Popen([sys.executable, "-c", _ORPHAN.format(repo=str(REPO), ws=str(ws))],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        pids = [int(p) for p in parent.stdout.readline().split()]
        assert pids
        parent.kill()  # SIGKILL: no cleanup runs in the parent
        parent.wait(timeout=10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(Path(f"/proc/{pid}").exists() and
                                                  "zombie" not in Path(f"/proc/{pid}/status").read_text()
                                                  for pid in pids):
            time.sleep(0.1)
        alive = [pid for pid in pids if Path(f"/proc/{pid}").exists()
                 and "zombie" not in Path(f"/proc/{pid}/status").read_text()]
        assert not alive, alive
    finally:
        if parent.poll() is None:
            parent.kill()


def test_an_unpicklable_model_runs_its_pipeline_in_a_thread(fitted_model: Pipeline, caplog) -> None:
    import copy

    model = copy.deepcopy(fitted_model)
    model.steps[0][1].transform_hook = lambda x: x  # a local function: pickle refuses it
    scorer = Scorer(model, compiled=False, pipeline="process")
    try:
        assert scorer.pipeline == "thread" and "cannot go to a worker process" in caplog.text
    finally:
        scorer.close()


def test_pool_is_bounded(fitted_model: Pipeline, model_workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRIVML_WORKSPACE", str(model_workspace))
    pool = PipelinePool(fitted_model, workers=2)
    try:
        assert len(set(pool.pids())) == 2
    finally:
        pool.close()
