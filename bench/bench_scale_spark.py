"""Spark `local[2]` against the single process at scale: rows/s and wall time of the Anonymize step (read,
fit, anonymize, write) for column techniques only, global recoding and Mondrian, printed as ratios.

    python bench/bench_scale_spark.py [--rows 10000000] [--files 8] [--algorithms transform,global_recoding,mondrian]
    python bench/bench_scale_spark.py --quick    # 200,000 rows in 2 files (`python -m bench --quick`)

The rows are generated (numpy, seeded) into Parquet files of string columns: four quasi-identifiers (age,
sex, a 3-digit postcode prefix, education), two features and a label. The single process is the in-memory
engine (`privml.anonymize.anonymize_table` over every file concatenated, as processing/anonymize.py reads
them); Spark is processing/spark_anonymize.py's path (privml.spark: read, fit, release, write). Each side
writes its train/validation/test CSVs. Generation time is excluded. `spark_figures` gives the figures
to a caller that prints them beside its own.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

EDUCATION = ["Preschool", "1st-4th", "5th-6th", "7th-8th", "9th", "10th", "11th", "12th", "HS-grad",
             "Some-college", "Assoc-voc", "Assoc-acdm", "Bachelors", "Masters", "Prof-school", "Doctorate"]
ALGORITHMS = ("transform", "global_recoding", "mondrian")
FULL, QUICK = (10_000_000, 8), (200_000, 2)  # (rows, files)


def generate(rows: int, files: int, directory: Path, seed: int = 0) -> list[Path]:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    paths = []
    per_file = -(-rows // files)
    for index in range(files):
        n = min(per_file, rows - index * per_file)
        if n <= 0:
            break
        age = rng.integers(17, 91, n)
        columns = {
            "age": age.astype(str),
            "sex": np.where(rng.random(n) < 0.5, "F", "M"),
            "zip3": np.char.zfill(rng.integers(10, 1000, n).astype(str), 3),
            "education": np.asarray(EDUCATION)[np.minimum(rng.poisson(8, n), len(EDUCATION) - 1)],
            "income": (rng.lognormal(10.5, 0.6, n) // 100 * 100).astype(int).astype(str),
            "hours": rng.integers(10, 80, n).astype(str),
            "label": (rng.random(n) < 1 / (1 + np.exp(-(age - 45) / 10))).astype(int).astype(str),
        }
        path = directory / f"part-{index:03d}.parquet"
        pq.write_table(pa.table(columns), path)
        paths.append(path)
    return paths


def policy_for(algorithm: str, hierarchy_dir: Path) -> Any:
    from privml.policy import parse_policy

    qis = ("age", "sex", "zip3", "education")
    columns: dict[str, Any] = {c: {"role": "quasi_identifier", "action": "keep"} for c in qis}
    columns["income"] = {"role": "feature", "action": "generalize", "params": {"width": 10000}}
    columns["hours"] = {"role": "feature", "action": "keep"}
    columns["label"] = {"role": "label", "action": "keep"}
    raw: dict[str, Any] = {"columns": columns, "unlisted_columns": "drop"}
    if algorithm == "global_recoding":
        columns["age"]["hierarchy"] = {"type": "interval", "widths": [5, 10, 20, 40]}
        columns["zip3"]["hierarchy"] = {"type": "prefix", "levels": 2}
        raw["anonymity"] = {"algorithm": "global_recoding", "k": 10, "max_suppression": 0.02}
    elif algorithm == "mondrian":
        raw["anonymity"] = {"algorithm": "mondrian", "k": 10}
    return parse_policy(raw, base_dir=hierarchy_dir)


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_single(files: list[Path], policy: Any, out: Path) -> float:
    import pandas as pd

    from privml.anonymize import anonymize_table, split_rows, write_anonymized
    from privml.io import read_table

    started = time.perf_counter()
    frame = pd.concat([read_table(f, max_bytes=1 << 40) for f in files], ignore_index=True)
    result = anonymize_table(frame, policy)
    splits = split_rows(result.data, (0.7, 0.15, 0.15), label=policy.label, seed=0)
    write_anonymized(result, out, splits=splits)
    return time.perf_counter() - started


def run_spark(files: list[Path], policy: Any, out: Path, master: str, max_partition_rows: int) -> float:
    from privml.spark.job import anonymize_frame
    from privml.spark.output import spark_read, write_release
    from privml.spark.session import spark_session

    spark = spark_session(master)
    try:
        started = time.perf_counter()
        frame = spark_read(spark, files)
        result = anonymize_frame(frame, policy, max_partition_rows=max_partition_rows)
        write_release(result, out, fractions=(0.7, 0.15, 0.15), seed=0)
        return time.perf_counter() - started
    finally:
        spark.stop()


def spark_figures(rows: int, *, files: int = 8, algorithms: tuple[str, ...] = ALGORITHMS, master: str = "local[2]",
                  max_partition_rows: int = 1_000_000, single: bool = True) -> list[dict[str, Any]]:
    """One figure per (algorithm, engine): rows/s and wall seconds; the Spark rows carry the ratio to the
    single process. Each side runs in its own subprocess (its peak RSS is its own)."""
    results = []
    with tempfile.TemporaryDirectory(prefix="privml-bench-spark-") as tmp:
        work = Path(tmp)
        (work / "data").mkdir()
        paths = generate(rows, files, work / "data")
        for algorithm in algorithms:
            figures: dict[str, dict[str, Any]] = {}
            for engine in ("single", "spark") if single else ("spark",):
                command = [sys.executable, __file__, "--one", json.dumps({
                    "engine": engine, "algorithm": algorithm, "files": [str(p) for p in paths],
                    "out": str(work / f"out-{engine}-{algorithm}"), "master": master,
                    "max_partition_rows": max_partition_rows})]
                import subprocess

                done = subprocess.run(command, capture_output=True, text=True, check=False)
                lines = [ln for ln in done.stdout.splitlines() if ln.startswith("ONE ")]
                if done.returncode or not lines:
                    figures[engine] = {"error": (done.stderr.strip().splitlines() or ["?"])[-1][:300]}
                    continue
                figures[engine] = json.loads(lines[-1][4:])
            for engine, figure in figures.items():
                row = {"algorithm": algorithm, "engine": engine, "rows": rows, **figure}
                if engine == "spark" and "seconds" in figure and "seconds" in figures.get("single", {}):
                    row["speedup_vs_single"] = figures["single"]["seconds"] / figure["seconds"]
                results.append(row)
    return results


def _one(spec: dict[str, Any]) -> None:
    files = [Path(p) for p in spec["files"]]
    policy = policy_for(spec["algorithm"], Path(spec["out"]).parent)
    if spec["engine"] == "single":
        seconds = run_single(files, policy, Path(spec["out"]))
    else:
        seconds = run_spark(files, policy, Path(spec["out"]), spec["master"], spec["max_partition_rows"])
    import pyarrow.parquet as pq

    rows = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
    print("ONE " + json.dumps({"seconds": seconds, "rows_per_s": rows / seconds,
                               "peak_rss_mb_driver": _peak_rss_mb()}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, help=f"default {FULL[0]:,} ({QUICK[0]:,} with --quick)")
    parser.add_argument("--files", type=int, help=f"default {FULL[1]} ({QUICK[1]} with --quick)")
    parser.add_argument("--quick", action="store_true", help="a small table: minutes, not an hour")
    parser.add_argument("--algorithms", default=",".join(ALGORITHMS))
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--max-partition-rows", type=int, default=1_000_000)
    parser.add_argument("--spark-only", action="store_true", help="leave out the single process")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        _one(json.loads(args.one))
        return
    os.environ.setdefault("PRIVML_KEY_PROVIDER", "none")
    rows, files = QUICK if args.quick else FULL
    args.rows, args.files = args.rows or rows, args.files or files
    algorithms = tuple(a for a in args.algorithms.split(",") if a)
    for row in spark_figures(args.rows, files=args.files, algorithms=algorithms, master=args.master,
                             max_partition_rows=args.max_partition_rows, single=not args.spark_only):
        print(f"{row['algorithm']:16s} {row['engine']:6s} rows={row['rows']:>11,} "
              + (f"wall={row['seconds']:8.1f}s rows/s={row['rows_per_s']:>11,.0f} driver peak RSS="
                 f"{row['peak_rss_mb_driver']:,.0f} MB" if "seconds" in row else f"FAILED: {row['error']}")
              + (f"  Spark/single speed-up {row['speedup_vs_single']:.2f}x" if "speedup_vs_single" in row else ""),
              file=sys.stderr)
        if "seconds" in row:
            print("RESULT " + json.dumps({
                "benchmark": "scale_spark", "figure": f"{row['algorithm']} {row['engine']} rows/s at {row['rows']:,}",
                "value": round(row["rows_per_s"]), "unit": "rows/s", "anchor": None,
                "ratio": round(row["speedup_vs_single"], 3) if "speedup_vs_single" in row else None}))


if __name__ == "__main__":
    main()
