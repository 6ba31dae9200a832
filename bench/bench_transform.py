"""Scan + transform (no k-anonymity) of generated sample rows: rows/s against the 300,000 rows/s target.

    python bench/bench_transform.py [--rows 1000000] [--seed 0]

The policy is the one `privml scan` proposes for the sample data, with its `anonymity:` section removed
(k-anonymity has its own benchmark). Generation time is excluded. The transform runs on one core
(pandas/pyarrow kernels here are single-threaded).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TARGET_ROWS_PER_S = 300_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    os.environ.setdefault("PRIVML_WORKSPACE", tempfile.mkdtemp(prefix="privml-bench-"))

    from privml.anonymize import ensure_local_keys
    from privml.detect import propose_policy, scan_table
    from privml.io import read_table, write_table
    from privml.sampledata import generate
    from privml.transformer import PrivacyTransformer

    # Through CSV and back, as `privml anonymize` reads a file: every column as strings.
    csv_path = Path(os.environ["PRIVML_WORKSPACE"]) / "sample.csv"
    write_table(generate(rows=args.rows, seed=args.seed), csv_path)
    frame = read_table(csv_path)

    t0 = time.perf_counter()
    scan = scan_table(frame)
    policy = propose_policy(scan)
    scan_s = time.perf_counter() - t0
    policy.anonymity = None
    ensure_local_keys(policy.keys.values())

    transformer = PrivacyTransformer.from_policy(policy)
    t0 = time.perf_counter()
    out = transformer.fit_transform(frame)
    transform_s = time.perf_counter() - t0
    assert len(out) == len(frame)

    per_column = {}
    for column in transformer.columns_out_:
        technique = transformer._technique(column)
        ctx = transformer._context(column, frame)
        t0 = time.perf_counter()
        technique.apply(frame[column], ctx)
        per_column[f"{column} ({policy.columns[column].action})"] = time.perf_counter() - t0

    rate = args.rows / transform_s
    print(f"rows: {args.rows:,}")
    print(f"scan (bounded sample) + policy: {scan_s:.2f} s")
    print(f"transform: {transform_s:.2f} s = {rate:,.0f} rows/s | anchor {TARGET_ROWS_PER_S:,} rows/s | "
          f"ratio {rate / TARGET_ROWS_PER_S:.2f}")
    print("RESULT " + json.dumps({"benchmark": "transform", "figure": f"transform (no k-anonymity), {args.rows:,} rows",
                                  "value": round(rate), "unit": "rows/s", "anchor": f">= {TARGET_ROWS_PER_S:,} rows/s",
                                  "ratio": round(rate / TARGET_ROWS_PER_S, 2)}))
    # Free text that carries PII is dropped by the proposed policy; `scrub` is opt-in. Its own rate:
    from privml.transforms import Context, technique_class

    texts = frame["notes"].head(20_000)
    t0 = time.perf_counter()
    technique_class("scrub")({}).apply(texts, Context("notes"))
    scrub_rate = len(texts) / (time.perf_counter() - t0)
    print(f"scrub (opt-in, free text): {scrub_rate:,.0f} texts/s on {len(texts):,} notes")
    print("slowest columns:")
    for name, seconds in sorted(per_column.items(), key=lambda kv: -kv[1])[:5]:
        print(f"  {name:<40} {seconds:6.2f} s")


if __name__ == "__main__":
    main()
