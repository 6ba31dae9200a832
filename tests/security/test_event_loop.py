"""Finding 3: when the compiled path gave up, the pipeline ran on the event loop with unlimited OpenMP
threads, and `/ping` stalled behind it. The pipeline now runs in a bounded pool of model threads with
one native thread each, and the compiled path covers the sample policy's techniques, dates included."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
import requests
from sklearn.pipeline import Pipeline

from inference.server import start_local_endpoint
from tests.security.conftest import ROW_CSV
from tests.signing import SigV4

SEEN: list[dict[str, Any]] = []


def _slow_transform(transform: Any, seconds: float) -> Any:
    """The privacy step's pipeline transform, made slow; notes the thread and native thread limits it ran
    with. The compiled form never calls it (it applies the techniques cell by cell)."""

    def slow(X: Any) -> Any:
        from threadpoolctl import threadpool_info

        SEEN.append({"thread": threading.current_thread().name,
                     "native": {i["user_api"]: i["num_threads"] for i in threadpool_info()}})
        end = time.monotonic() + seconds
        while time.monotonic() < end:  # CPU-bound in Python, as a pandas-heavy transform is
            sum(range(1000))
        return transform(X)

    return slow


@pytest.fixture
def slow_endpoint(security_model, security_workspace, monkeypatch):
    privacy = security_model.steps[0][1]
    monkeypatch.setattr(privacy, "transform", _slow_transform(privacy.transform, 1.5))
    SEEN.clear()
    handle = start_local_endpoint(security_model, workspace=security_workspace, name="slow")
    assert handle.app.scorer is not None and handle.app.scorer.compiled is not None
    yield handle
    handle.stop()


def test_fallback_pipeline_runs_off_the_event_loop(slow_endpoint) -> None:
    """A number the compiled form does not read (an exponent) sends the request to the pipeline; while the
    pipeline works, /ping answers at once and the pipeline runs in a model thread with one native thread."""
    handle = slow_endpoint
    body = ROW_CSV.replace(",41,F,", ",4.1e1,F,")
    result: dict[str, Any] = {}

    def score() -> None:
        r = requests.post(f"{handle.url}/invocations", data=body, headers={"Content-Type": "text/csv"},
                          verify=handle.ca_bundle, timeout=30, auth=SigV4(handle.credentials))
        result["status"] = r.status_code

    worker = threading.Thread(target=score)
    worker.start()
    deadline = time.monotonic() + 10
    while not SEEN and time.monotonic() < deadline:
        time.sleep(0.01)
    started = time.perf_counter()
    ping = requests.get(f"{handle.url}/ping", verify=handle.ca_bundle, timeout=10)
    ping_seconds = time.perf_counter() - started
    worker.join(timeout=30)
    assert result.get("status") in (200, 400)
    assert ping.status_code == 200 and ping_seconds < 0.5, ping_seconds
    (seen,) = SEEN
    assert seen["thread"].startswith("privml-model")
    assert all(n == 1 for n in seen["native"].values()), seen["native"]


def test_sample_policy_model_scores_compiled(tmp_path, monkeypatch) -> None:
    """The policy `privml scan` proposes for the sample data (dates generalized, k-anonymity over them):
    its model compiles, and a one-row request never falls back to the pipeline."""
    from inference.handler import parse_payload, predict_fn, to_frame
    from inference.scoring import Scorer
    from privml.anonymize import ensure_local_keys
    from privml.detect import propose_policy, scan_table
    from privml.models.estimators import fit_model
    from privml.sampledata import generate
    from privml.serving.compiled import compile_model
    from privml.transformer import PrivacyTransformer

    monkeypatch.setenv("PRIVML_WORKSPACE", str(tmp_path))
    raw = generate(600, seed=5).astype("str")
    policy = propose_policy(scan_table(raw))
    ensure_local_keys(policy.keys.values())
    privacy = PrivacyTransformer.from_policy(policy)
    anonymized = privacy.fit_transform(raw)
    label = next(name for name, col in policy.columns.items() if col.role.value == "label")
    features = [name for name, col in policy.columns.items()
                if col.role.value in ("quasi_identifier", "feature", "sensitive") and name in anonymized.columns]
    assert any("date" in name for name in features)
    y = raw.loc[anonymized.index, label].astype(int).to_numpy()
    fitted = fit_model("logreg", anonymized, y, columns=features, numeric=None, bounds={}, seed=5)
    model = Pipeline([("privacy", privacy), ("model", fitted.pipeline)])
    assert compile_model(model) is not None
    scorer = Scorer(model, threaded=False)
    requests_csv = generate(40, seed=9).astype("str").drop(columns=[label])
    compiled_agrees = 0
    for i in range(len(requests_csv)):
        batch = parse_payload(requests_csv.iloc[i:i + 1].to_csv(index=False).encode(), "text/csv", scorer.plan)
        fast = scorer.score_one(batch)
        assert fast.compiled, f"row {i} fell back to the pipeline"
        slow = predict_fn(to_frame(batch), model)  # the pipeline itself
        compiled_agrees += abs(fast.probabilities[0][0] - float(slow.probabilities[0][0])) < 1e-9
    assert compiled_agrees == len(requests_csv)
    assert scorer.pipeline_fallbacks == 0
