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
from privml.serving.payloads import InvalidInput
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
    bodies[4] = json.dumps([{k: v for k, v in _rows(1)[0].items() if k != "age"}])  # a required column missing

    async def run() -> list[Any]:
        return await asyncio.gather(*(pool_scorer.score(parse_payload(b, JSON, plan)) for b in bodies),
                                    return_exceptions=True)

    results = asyncio.run(run())
    in_process = ServedModel(fitted_model, compiled=False)
    for i, (body, result) in enumerate(zip(bodies, results, strict=True)):
        if i == 4:
            assert isinstance(result, InvalidInput) and result.status == 400
            assert str(result) == "missing column(s): age"
            continue
        expected = in_process.score_pipeline(parse_payload(body, JSON, plan))
        assert result.labels == expected.labels and not result.compiled
        np.testing.assert_array_equal(np.asarray(result.probabilities), np.asarray(expected.probabilities))
    assert pool_scorer.served.fallbacks[FORCED] >= 1 and pool_scorer.served.pipeline_calls >= len(bodies) - 1


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


def test_workers_run_with_one_native_thread(pool_scorer: Scorer) -> None:
    (pid,) = pool_scorer.pipeline_pids()
    threads = int(next(line.split()[1] for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                       if line.startswith("Threads:")))
    assert threads <= 3, threads  # the main thread, the parent watchdog, and at most a runtime helper


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
