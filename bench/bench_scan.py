"""`privml scan` of a 1,000,000-row × 50-column CSV: wall time and peak RSS (targets ≤ 5 s, ≤ 1 GB); and
the cost of the anonymize-time safety net on the transform benchmark's table (target ≤ 5% of the
transform).

    python bench/bench_scan.py [--rows 1000000] [--transform-rows 1000000]

The CSV is 50 columns: the sample data's 19 (personal data of every kind the scanner knows) and 31 of
numbers, codes, dates and categories, made once as a block of 20,000 rows written repeatedly (the scan
samples 5,000 rows at random from the whole file, so the repetition costs it nothing). Generation is
excluded. The scan runs as the command a user types, in a subprocess, so its wall time includes the
interpreter's start and imports, and its peak RSS (getrusage of the child) is the whole process's.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TARGET_SECONDS = 5.0
TARGET_RSS_MB = 1024
TARGET_NET_SHARE = 0.05
BLOCK_ROWS = 20_000


def _table(path: Path, rows: int) -> int:
    import numpy as np
    import pandas as pd

    from privml.sampledata import generate

    block = generate(rows=BLOCK_ROWS, seed=0)
    rng = np.random.default_rng(1)
    for i in range(31):
        kind = i % 5
        if kind == 0:
            block[f"measure_{i}"] = rng.normal(50, 10, BLOCK_ROWS).round(3)
        elif kind == 1:
            block[f"count_{i}"] = rng.poisson(4, BLOCK_ROWS)
        elif kind == 2:
            block[f"code_{i}"] = [f"C{x:04d}" for x in rng.integers(0, 500, BLOCK_ROWS)]
        elif kind == 3:
            block[f"when_{i}"] = (pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 365, BLOCK_ROWS),
                                                                                unit="D")).strftime("%Y-%m-%d")
        else:
            block[f"category_{i}"] = rng.choice(["alpha", "beta", "gamma", "delta"], BLOCK_ROWS)
    body = block.to_csv(index=False).encode()
    header, _, rest = body.partition(b"\n")
    with open(path, "wb") as fh:
        fh.write(header + b"\n")
        for _ in range(rows // BLOCK_ROWS):
            fh.write(rest)
    return len(block.columns)


def _scan(path: Path) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "privml", "scan", str(path), "--json"], capture_output=True,
                          check=False)
    seconds = time.perf_counter() - t0
    if done.returncode:
        raise SystemExit(f"scan failed: {done.stderr.decode()[-500:]}")
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return seconds, max(peak_kb, before) / 1024


def _safety_net(rows: int) -> tuple[float, float]:
    from privml.anonymize import check_features
    from privml.detect import propose_policy, scan_table
    from privml.io import read_table, write_table
    from privml.sampledata import generate
    from privml.transformer import PrivacyTransformer

    csv_path = Path(os.environ["PRIVML_WORKSPACE"]) / "sample.csv"
    write_table(generate(rows=rows, seed=0), csv_path)
    frame = read_table(csv_path)
    policy = propose_policy(scan_table(frame))
    policy.anonymity = None  # as bench_transform: k-anonymity has its own benchmark
    from privml.anonymize import ensure_local_keys

    ensure_local_keys(policy.keys.values())
    transformer = PrivacyTransformer.from_policy(policy)
    t0 = time.perf_counter()
    transformer.fit_transform(frame)
    transform_s = time.perf_counter() - t0
    runs = []
    for _ in range(3):
        t0 = time.perf_counter()
        check_features(frame, policy)
        runs.append(time.perf_counter() - t0)
    return sorted(runs)[1], transform_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--transform-rows", type=int, default=1_000_000)
    args = parser.parse_args()
    os.environ.setdefault("PRIVML_WORKSPACE", tempfile.mkdtemp(prefix="privml-bench-"))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "wide.csv"
        columns = _table(path, args.rows)
        size_mb = path.stat().st_size / 2**20
        seconds, peak_mb = _scan(path)
    label = f"{args.rows:,} rows x {columns} columns ({size_mb:.0f} MB)"
    print(f"scan of {label}: {seconds:.2f} s wall, peak RSS {peak_mb:.0f} MB")
    print("RESULT " + json.dumps({"benchmark": "scan", "figure": f"scan, {label}: wall time",
                                  "value": round(seconds, 2), "unit": "s", "anchor": f"<= {TARGET_SECONDS:g} s",
                                  "ratio": round(seconds / TARGET_SECONDS, 2)}))
    print("RESULT " + json.dumps({"benchmark": "scan", "figure": f"scan, {label}: peak RSS", "value": round(peak_mb),
                                  "unit": "MB", "anchor": f"<= {TARGET_RSS_MB} MB",
                                  "ratio": round(peak_mb / TARGET_RSS_MB, 2)}))
    net_s, transform_s = _safety_net(args.transform_rows)
    share = net_s / transform_s
    print(f"safety net: {net_s * 1000:.0f} ms against a transform of {transform_s:.2f} s "
          f"({args.transform_rows:,} rows): {share:.1%}")
    figure = f"anonymize-time safety net, share of the transform ({args.transform_rows:,} rows)"
    print("RESULT " + json.dumps({"benchmark": "scan", "figure": figure,
                                  "value": round(share * 100, 2), "unit": "%", "anchor": f"<= {TARGET_NET_SHARE:.0%}",
                                  "ratio": round(share / TARGET_NET_SHARE, 2)}))


if __name__ == "__main__":
    main()
