"""Compiled classifier (privml.models.compiled) against the estimator's own predict_proba, µs per call.

    /work/venv/bin/python bench/bench_compiled_model.py [--rows 1,8,32,64,100,256,1000] [--repeat 5]
        [--no-endpoint-model | --endpoint-model-only]

Models: a histogram gradient boosting classifier as the training job builds it (200 iterations, up to 31
leaves) on 20 dense features with 10% missing values, binary and 3-class; the regressor on the same
features (HistGradientBoostingRegressor, squared error: compile_regressor, timed on predict); and, unless
--no-endpoint-model, the classifier of the endpoint's model (tests.inference.model_factory, the same one
bench_endpoint.py serves) on its encoded rows. Each figure is the best of --repeat runs of the mean over
a ~0.2 s batch, for n rows per call, with OpenMP limited to 1 thread and with the default thread count
(sklearn's tree loop uses OpenMP; the compiled paths are single-threaded).
Both tree loops of the compiled model are timed: "native" (the C kernel, privml/models/compiled/_trees.c,
what compile_classifier serves with when it is built) and "numpy" (the fallback); the path compile_classifier
picked is printed per model.
The anchor is sklearn's predict_proba on the same rows; ratio = compiled / sklearn (lower is better).
The row counts straddle the numpy path's switches (BY_ROW_MAX_ROWS, SLICE_ROWS: they were set from this
script's figures on the endpoint model); on a shared box, run it a few times and compare medians.
Before timing, every compiled result is checked identical to sklearn's, bit for bit.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def per_call_us(fn: Callable[[], Any], repeat: int, budget_s: float = 0.2) -> float:
    fn()
    t0 = time.perf_counter()
    fn()
    once = max(time.perf_counter() - t0, 1e-7)
    calls = max(1, int(budget_s / once))
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        best = min(best, (time.perf_counter() - t0) / calls)
    return best * 1e6


def synthetic_models(seed: int) -> list[tuple[str, Any, Any]]:
    import numpy as np
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    rng = np.random.default_rng(seed)
    X = rng.normal(size=(20_000, 20))
    signal = X[:, 0] + X[:, 1] * np.clip(X[:, 2], -1, 1) + np.sin(3 * X[:, 3]) + rng.normal(scale=0.7, size=len(X))
    X[rng.random(X.shape) < 0.1] = np.nan
    out = []
    for label, y in (("binary", (signal > 0.3).astype(int)), ("3-class", np.digitize(signal, [-0.5, 0.8]))):
        clf = HistGradientBoostingClassifier(max_iter=200, early_stopping=False, learning_rate=0.1,
                                             random_state=seed).fit(X, y)
        out.append((f"HGB {label}, 20 features, 200 iterations", clf, X))
    reg = HistGradientBoostingRegressor(max_iter=200, early_stopping=False, learning_rate=0.1,
                                        random_state=seed).fit(X, signal)
    out.append(("HGB regressor, 20 features, 200 iterations", reg, X))
    return out


def endpoint_model() -> tuple[str, Any, Any]:
    os.environ.setdefault("PRIVML_WORKSPACE", tempfile.mkdtemp(prefix="privml-bench-"))
    from tests.inference.model_factory import build, raw_table

    pipeline = build()
    model = pipeline.named_steps["model"]
    encoded = model.named_steps["encode"].transform(pipeline.named_steps["privacy"].transform(raw_table(1200, seed=4)))
    clf = model.named_steps["classifier"]
    return f"endpoint model's HGB ({encoded.shape[1]} encoded features, {clf.n_iter_} iterations)", clf, encoded


# Rows of the summary table (`python -m bench`): one thread, as the endpoint runs it, at these batch sizes.
SUMMARY_SIZES = (1, 32, 100)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="1,8,32,64,100,256,1000")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--no-endpoint-model", action="store_true")
    which.add_argument("--endpoint-model-only", action="store_true")
    args = parser.parse_args()

    import numpy as np
    from threadpoolctl import threadpool_limits

    from privml.models.compiled import compile_classifier, compile_regressor
    from privml.models.compiled.boosting import NATIVE_UNAVAILABLE, _CompiledBoosting, _CompiledBoostingRegressor

    if NATIVE_UNAVAILABLE:
        print(f"native path unavailable ({NATIVE_UNAVAILABLE}): timing the numpy path only", file=sys.stderr)
    with threadpool_limits(limits=1, user_api="openmp"):  # fitting on a shared box: threads only contend
        models = [] if args.endpoint_model_only else synthetic_models(args.seed)
        if not args.no_endpoint_model:
            models.append(endpoint_model())
    sizes = [int(s) for s in args.rows.split(",")]
    for name, clf, X in models:
        regression = not hasattr(clf, "predict_proba")
        method = "predict" if regression else "predict_proba"  # a regressor's numbers, a classifier's probabilities
        t0 = time.perf_counter()
        compiled: Any = compile_regressor(clf) if regression else compile_classifier(clf)
        compile_ms = (time.perf_counter() - t0) * 1e3
        if not isinstance(compiled, _CompiledBoostingRegressor if regression else _CompiledBoosting):
            print(f"{name}: not compiled", file=sys.stderr)
            return 1
        paths = {compiled.path: compiled}
        if compiled.path != "numpy":
            paths["numpy"] = (_CompiledBoostingRegressor if regression else _CompiledBoosting)(clf, native=False)
        print(f"\n{name}: compiled in {compile_ms:.0f} ms; it serves with the {compiled.path} path")
        rows_all = X[-max(sizes):]
        for comp in paths.values():
            np.testing.assert_array_equal(getattr(comp, method)(rows_all), getattr(clf, method)(rows_all))
        for threads in ("1", "default"):
            limit = threadpool_limits(limits=1, user_api="openmp") if threads == "1" else threadpool_limits(None)
            with limit:
                for n in sizes:
                    rows = np.ascontiguousarray(X[-n:])
                    anchor = getattr(clf, method)
                    sk = per_call_us(lambda rows=rows, f=anchor: f(rows), args.repeat)
                    for path, comp in paths.items():
                        ours_fn = getattr(comp, method)
                        ours = per_call_us(lambda rows=rows, f=ours_fn: f(rows), args.repeat)
                        ratio = ours / sk
                        print(f"  OpenMP threads {threads:>7}, n={n:>5}, {path:>6}: {ours:9.1f} µs/call "
                              f"({ours / n:8.2f} µs/row) | anchor sklearn {method} {sk:9.1f} µs "
                              f"({sk / n:8.2f} µs/row) | ratio {ratio:.4f} (speed-up {sk / ours:.1f}x)")
                        if threads != "1" or n not in SUMMARY_SIZES:
                            continue  # printed above; the summary table keeps the serving case
                        print("RESULT " + json.dumps({
                            "benchmark": "compiled_model",
                            "figure": f"{name}: {method} n={n}, {path} path, OpenMP threads {threads}",
                            "value": round(ours, 1), "unit": "µs/call",
                            "anchor": f"<= sklearn {method} {sk:.0f} µs", "ratio": round(ratio, 4),
                        }), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
