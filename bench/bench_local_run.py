"""Wall time of `privml run --local` on the default sample, and the local executor's own overhead.

    /work/venv/bin/python bench/bench_local_run.py [--rows N] [--repeat R]

Runs the real command (`python -m privml run --local --json`) in a fresh workspace, and reads the run
record's timing: the jobs' own run time (sum over executed jobs of their subprocesses' wall time) and
the executor's total (definition evaluation, staging and decrypting inputs, job directories and
sandbox, encrypting and publishing outputs, wiping). Overhead = executor total − jobs' time.
Targets: wall ≤ 60 s; overhead ≤ 10 % of the executor's total.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WALL_TARGET_S = 60.0
OVERHEAD_TARGET = 0.10


def one_run(rows: int | None) -> dict:
    with tempfile.TemporaryDirectory(prefix="privml-bench-") as tmp:
        env = {**os.environ, "PRIVML_WORKSPACE": str(Path(tmp) / "ws")}
        cmd = [sys.executable, "-m", "privml", "run", "--local", "--json"]
        if rows:
            cmd += ["--rows", str(rows)]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, cwd=tmp, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        if proc.returncode not in (0, 1) or not proc.stdout.strip():
            sys.exit(f"privml run --local failed (exit {proc.returncode}):\n{proc.stderr[-2000:]}")
        record = json.loads(proc.stdout)
    timing = record["timing"]
    return {"wall": wall, "status": record["status"], "build": record.get("build_seconds", 0.0),
            "executor": timing["total_seconds"], "jobs": timing["jobs_seconds"],
            "overhead": timing["executor_overhead_seconds"],
            "steps": {s["name"]: (s["status"], s["seconds"], s["job_seconds"]) for s in record["steps"]}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=None, help="sample rows (default: the command's default)")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    runs = [one_run(args.rows) for _ in range(args.repeat)]
    best = min(runs, key=lambda r: r["wall"])
    print(f"privml run --local (rows={args.rows or 'default'}, best of {len(runs)}): status {best['status']}")
    for name, (status, seconds, job) in best["steps"].items():
        print(f"  {name:<12} {status:<10} {seconds:7.2f} s  (job {job:.2f} s)")
    print(f"  definition build (SDK under moto): {best['build']:.2f} s")
    ratio = best["wall"] / WALL_TARGET_S
    print(f"wall time: {best['wall']:.2f} s   anchor: target {WALL_TARGET_S:.0f} s   ratio: {ratio:.2f}"
          f"  ({'OK' if ratio <= 1 else 'over target'})")
    print("RESULT " + json.dumps({"benchmark": "local_run",
                                  "figure": f"privml run --local wall time (rows={args.rows or 'default'})",
                                  "value": round(best["wall"], 2), "unit": "s",
                                  "anchor": f"<= {WALL_TARGET_S:.0f} s", "ratio": round(ratio, 2)}))
    share = best["overhead"] / best["executor"] if best["executor"] else 0.0
    print(f"executor overhead: {best['overhead']:.2f} s of {best['executor']:.2f} s executor total "
          f"(jobs {best['jobs']:.2f} s) = {share:.1%}   anchor: target {OVERHEAD_TARGET:.0%}   "
          f"ratio: {share / OVERHEAD_TARGET:.2f}  ({'OK' if share <= OVERHEAD_TARGET else 'over target'})")
    print("RESULT " + json.dumps({"benchmark": "local_run", "figure": "executor overhead share of executor time",
                                  "value": round(100 * share, 1), "unit": "%",
                                  "anchor": f"<= {OVERHEAD_TARGET:.0%}", "ratio": round(share / OVERHEAD_TARGET, 2)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
