"""The Anonymize step at scale: rows/s and peak RSS at 1M, 10M (and 50M) generated rows, and Spark against it.

    python bench/bench_scale.py [--rows 1000000,10000000] [--slow] [--batch-rows 131072]
                                [--spark-rows 10000000] [--master local[2]]
                                [--cases transform,global_recoding,mondrian] [--files 8]

Per size, about `--files` CSV files of generated rows (an identifier, an email, four quasi-identifiers, a
sensitive diagnosis, two numeric features and a label) are written first (not timed; several files, as
a CSV file is one Spark partition); then the whole streaming
job (`privml.anonymize_stream.anonymize_stream`: column techniques + the anonymity model + the
chunked train/validation/test files, report and transformer) runs in a fresh process per case:
column techniques only (`transform`), global recoding (k=10, 1% suppression, loss metric) and Mondrian
(k=10, distinct 2-diversity). Each child reports its wall time, CPU time and peak RSS (ru_maxrss).
`--slow` adds 50M rows (about 5 GB of CSV and a long run; left out of `python -m bench`).

At `--spark-rows` (one of the sizes; 0: none) the same CSV and the same policies also run as the Spark
Anonymize job (`processing/spark_anonymize.py`'s path: privml.spark read, fit, release, write) on
`--master` (`local[2]`: both cores), and the bench prints Spark's rows/s and wall time against the
single process's as ratios (>1: Spark is faster). Spark's wall time includes its JVM's start, which a
job pays too; its peak RSS is the Python driver's (the JVM and the Python workers are other processes).

CPU time is reported beside wall time (rows per CPU-second; the streaming job runs on one core), since a
shared host's load moves wall time several-fold. Anchors: peak RSS <= 2 GB whatever the rows (issue 20),
and flat as rows grow (ratio of the largest size's peak to the smallest's); rows/s against the in-memory
transform's 300,000 rows/s target.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

RSS_ANCHOR_MB = 2048
RATE_ANCHOR = 300_000
ALGORITHMS = ("transform", "global_recoding", "mondrian")
SPARK_FRACTIONS = (0.7, 0.15, 0.15)
CHUNK = 500_000


def policy(algorithm: str) -> dict:
    columns = {
        "person_id": {"role": "identifier", "action": "redact"},
        "email": {"role": "identifier", "action": "drop"},
        "sex": {"role": "quasi_identifier", "action": "keep"},
        "zip_code": {"role": "quasi_identifier", "action": "generalize", "params": {"prefix": 3}},
        "education": {"role": "quasi_identifier", "action": "keep"},
        "diagnosis": {"role": "sensitive", "action": "keep"},
        "income": {"role": "feature", "action": "keep"},
        "hours_per_week": {"role": "feature", "action": "keep"},
        "readmitted": {"role": "label"},
    }
    if algorithm == "transform":  # column techniques only: no anonymity model
        columns["age"] = {"role": "quasi_identifier", "action": "keep"}
        return {"version": 1, "columns": columns}
    if algorithm == "global_recoding":
        columns["age"] = {"role": "quasi_identifier", "action": "keep",
                          "hierarchy": {"type": "interval", "widths": [5, 10, 20, 40]}}
        anonymity = {"algorithm": "global_recoding", "k": 10, "max_suppression": 0.01, "metric": "loss"}
    else:
        columns["age"] = {"role": "quasi_identifier", "action": "keep"}
        anonymity = {"algorithm": "mondrian", "k": 10, "l_diversity": {"kind": "distinct", "l": 2}}
    return {"version": 1, "columns": columns, "anonymity": anonymity}


def write_rows(directory: Path, rows: int, files: int = 1, seed: int = 0) -> list[Path]:
    """Generated rows in about `files` CSV files of whole chunks, vectorized (the sample-data generator's
    fake names would take minutes per 10M)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    from pyarrow import csv as pacsv

    rng = np.random.default_rng(seed)
    # 100 postcodes (their 3-digit prefixes are the quasi-identifier): a bounded domain, as real postcodes are
    zips = np.array([f"{z:05d}" for z in rng.choice(np.arange(10000, 99999), 100, replace=False)], dtype=object)
    education = np.array(["Some-school", "HS-grad", "Some-college", "Assoc", "Bachelors", "Masters", "Doctorate"],
                         dtype=object)
    diagnoses = np.array([f"D{i:02d}" for i in range(12)], dtype=object)
    directory.mkdir(parents=True, exist_ok=True)
    per_file = -(-rows // (max(files, 1) * CHUNK)) * CHUNK
    paths: list[Path] = []
    writer = None
    try:
        for start in range(0, rows, CHUNK):
            n = min(CHUNK, rows - start)
            ids = pa.array(np.arange(start, start + n))
            age = rng.integers(18, 91, n)
            table = pa.table({
                "person_id": pc.binary_join_element_wise("P", pc.cast(ids, pa.string()), ""),
                "email": pc.binary_join_element_wise("user", pc.cast(ids, pa.string()), "@example.org", ""),
                "age": pa.array(age).cast(pa.string()),
                "sex": pa.array(np.where(rng.random(n) < 0.51, "F", "M")),
                "zip_code": pa.array(zips[rng.zipf(1.3, n) % len(zips)]),
                "education": pa.array(education[rng.integers(0, len(education), n)]),
                "diagnosis": pa.array(diagnoses[rng.integers(0, len(diagnoses), n)]),
                "income": pa.array(rng.integers(50, 2000, n) * 100).cast(pa.string()),
                "hours_per_week": pa.array(rng.integers(5, 81, n)).cast(pa.string()),
                "readmitted": pa.array(rng.integers(0, 2, n)).cast(pa.string()),
            })
            if start % per_file == 0:
                if writer is not None:
                    writer.close()
                paths.append(directory / f"part-{len(paths):03d}.csv")
                writer = pacsv.CSVWriter(str(paths[-1]), table.schema)
            assert writer is not None
            writer.write_table(table)
    finally:
        if writer is not None:
            writer.close()
    return paths


def input_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("part-*.csv"))


def child(csv_dir: Path, algorithm: str, batch_rows: int | None, out: Path) -> None:
    from privml.anonymize_stream import anonymize_stream
    from privml.io.stream import TableStream
    from privml.policy import parse_policy

    stream = TableStream(input_files(csv_dir), batch_rows=batch_rows)
    t0 = time.perf_counter()
    release = anonymize_stream(stream, parse_policy(policy(algorithm)), out, key_provider=None, seed=0)
    seconds = time.perf_counter() - t0
    usage = resource.getrusage(resource.RUSAGE_SELF)
    peak_mb = usage.ru_maxrss / 1024  # kilobytes on Linux
    print(json.dumps({"seconds": seconds, "cpu_seconds": usage.ru_utime + usage.ru_stime, "peak_mb": peak_mb,
 "rows_in": release.report["rows_in"],
                      "rows_out": release.report["rows_out"], "k": release.report.get("k"),
                      "partitions_or_node": release.report.get("transformation")}))


def spark_child(csv_dir: Path, algorithm: str, master: str, out: Path) -> None:
    from privml.policy import parse_policy
    from privml.spark.job import anonymize_frame
    from privml.spark.output import spark_read, write_release
    from privml.spark.session import spark_session

    t0 = time.perf_counter()
    spark = spark_session(master)
    try:
        frame = spark_read(spark, input_files(csv_dir))
        result = anonymize_frame(frame, parse_policy(policy(algorithm)), key_provider=None)
        written = write_release(result, out, fractions=SPARK_FRACTIONS, seed=0)
    finally:
        spark.stop()
    seconds = time.perf_counter() - t0
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"seconds": seconds, "peak_mb": usage.ru_maxrss / 1024, "rows_in": result.report["rows_in"],
                      "rows_out": sum(written.values()), "k": result.report.get("k")}))


def run_child(csv_dir: Path, algorithm: str, batch_rows: int | None, out: Path, master: str | None = None) -> dict:
    command = [sys.executable, __file__, "--child", str(csv_dir), "--algorithm", algorithm, "--out", str(out)]
    if batch_rows:
        command += ["--batch-rows", str(batch_rows)]
    if master:
        command += ["--spark-master-child", master]
    env = {**os.environ, "PRIVML_KEY_PROVIDER": "none"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{algorithm} at {csv_dir.name}: exit {done.returncode}\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def result(figure: str, value: float, unit: str, anchor: str, ratio: float) -> None:
    print("RESULT " + json.dumps({"benchmark": "scale", "figure": figure, "value": value, "unit": unit,
                                  "anchor": anchor, "ratio": round(ratio, 2)}))


def compare_spark(csv_dir: Path, rows: int, master: str, single: dict[str, dict], tmp: Path) -> None:
    """Spark on `master` against the single process's figures for the same CSV and policies."""
    print(f"  Spark {master} on the same {rows:,} rows (wall time includes the JVM's start):", flush=True)
    for algorithm in single:
        out = tmp / f"out-spark-{algorithm}-{rows}"
        figures = run_child(csv_dir, algorithm, None, out, master=master)
        shutil.rmtree(out, ignore_errors=True)
        base = single[algorithm]
        speedup = base["seconds"] / figures["seconds"]
        print(f"  {algorithm:<15} {figures['seconds']:8.1f} s = {rows / figures['seconds']:>10,.0f} rows/s | single "
              f"process {base['seconds']:.1f} s | Spark/single rows/s x{speedup:.2f} (wall x{1 / speedup:.2f}) | "
              f"driver peak RSS {figures['peak_mb']:,.0f} MB | {figures['rows_out']:,} rows out, k={figures['k']}",
              flush=True)
        result(f"Spark {master}, {algorithm}, {rows:,} rows", round(rows / figures["seconds"]), "rows/s",
               "the single streaming process on the same rows (ratio = Spark rows/s / single rows/s)", speedup)
        result(f"Spark {master}, {algorithm}, {rows:,} rows, wall", round(figures["seconds"], 1), "s",
               f"single process {base['seconds']:.1f} s (ratio = Spark wall / single wall)", 1 / speedup)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="1000000,10000000", help="comma-separated sizes")
    parser.add_argument("--slow", action="store_true", help="add 50,000,000 rows (long; several GB of disk)")
    parser.add_argument("--batch-rows", type=int, default=None)
    parser.add_argument("--files", type=int, default=8,
                        help="CSV files per size (a CSV file is one Spark partition: multi-line values)")
    parser.add_argument("--cases", default=",".join(ALGORITHMS),
                        help="comma-separated subset of " + ", ".join(ALGORITHMS))
    parser.add_argument("--spark-rows", type=int, default=10_000_000,
                        help="the size at which Spark runs against the single process (0: never)")
    parser.add_argument("--master", default="local[2]", help="Spark master of that comparison")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--spark-master-child", help=argparse.SUPPRESS)
    parser.add_argument("--algorithm", choices=ALGORITHMS, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child and args.spark_master_child:
        spark_child(args.child, args.algorithm, args.spark_master_child, args.out)
        return
    if args.child:
        child(args.child, args.algorithm, args.batch_rows, args.out)
        return
    sizes = [int(s) for s in args.rows.split(",") if s.strip()] + ([50_000_000] if args.slow else [])
    cases = [c for c in args.cases.split(",") if c]
    if unknown := sorted(set(cases) - set(ALGORITHMS)):
        parser.error(f"--cases: unknown {', '.join(unknown)}")
    sizes = sorted(set(sizes) | ({args.spark_rows} if args.spark_rows else set()))
    peaks: dict[str, list[tuple[int, float]]] = {a: [] for a in cases}
    with tempfile.TemporaryDirectory(prefix="privml-bench-scale-") as tmp:
        for rows in sizes:
            csv_dir = Path(tmp) / f"rows-{rows}"
            t0 = time.perf_counter()
            paths = write_rows(csv_dir, rows, files=args.files)
            print(f"{rows:,} rows: {sum(p.stat().st_size for p in paths) / 2**20:,.0f} MB of CSV in {len(paths)} "
                  f"file(s) written in "
                  f"{time.perf_counter() - t0:.1f} s (not timed)", flush=True)
            single: dict[str, dict] = {}
            for algorithm in cases:
                out = Path(tmp) / f"out-{algorithm}-{rows}"
                figures = run_child(csv_dir, algorithm, args.batch_rows, out)
                rate = rows / figures["seconds"]
                peaks[algorithm].append((rows, figures["peak_mb"]))
                cpu_rate = rows / figures["cpu_seconds"]
                print(f"  {algorithm:<15} {figures['seconds']:8.1f} s = {rate:>10,.0f} rows/s "
                      f"({cpu_rate:,.0f} rows per CPU-second: the figure a loaded host does not move) | peak RSS "
                      f"{figures['peak_mb']:,.0f} MB (anchor <= {RSS_ANCHOR_MB:,} MB) | {figures['rows_out']:,} rows "
                      f"out, k={figures['k']}", flush=True)
                result(f"streaming anonymize, {algorithm}, {rows:,} rows", round(rate), "rows/s",
                       f">= {RATE_ANCHOR:,} rows/s (in-memory transform target)", rate / RATE_ANCHOR)
                result(f"streaming anonymize, {algorithm}, {rows:,} rows, per CPU-second", round(cpu_rate),
                       "rows/CPU-s", f">= {RATE_ANCHOR:,} rows/s (in-memory transform target)", cpu_rate / RATE_ANCHOR)
                result(f"peak RSS, {algorithm}, {rows:,} rows", round(figures["peak_mb"]), "MB",
                       f"<= {RSS_ANCHOR_MB:,} MB", figures["peak_mb"] / RSS_ANCHOR_MB)
                shutil.rmtree(out, ignore_errors=True)
                single[algorithm] = figures
            if rows == args.spark_rows:
                compare_spark(csv_dir, rows, args.master, single, Path(tmp))
            shutil.rmtree(csv_dir)
    if len(sizes) > 1:
        for algorithm, points in peaks.items():
            (small, low), (large, high) = points[0], points[-1]
            growth = high / low
            print(f"peak RSS growth, {algorithm}: {low:,.0f} MB at {small:,} rows -> {high:,.0f} MB at {large:,} rows "
                  f"(x{growth:.2f} for x{large / small:.0f} rows; flat is x1)")
            result(f"peak RSS growth {small:,} -> {large:,} rows, {algorithm}", round(growth, 2), "x",
                   "<= 1.25 x (flat)", growth / 1.25)


if __name__ == "__main__":
    main()
