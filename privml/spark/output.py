"""The Spark job's outputs, written by the DRIVER only, all or nothing.

Why the driver writes: on SageMaker with more than one processing instance, PySparkProcessor runs YARN
over every host, and an executor's filesystem is its own host's disk. Part files written by executors
into a staging directory under the driver's output would land on the other hosts and never be renamed
into the release: rows silently lost while the report still counted them. So the executors only render
each batch to CSV bytes (the same bytes `privml.io.write_table` writes: pandas' CSV writer, UTF-8) and
return them as a binary column with the split's name and row count; the driver reads them back one batch
at a time (`toLocalIterator`: one Row per batch and split, never per data row) and writes every part file
itself. No function Spark ships to a worker names an output path, and the rows written are the rows the
report counts (checked before anything is renamed).

All or nothing: every file is written under one staging directory beside the declared outputs, and each
output directory is renamed into place only when everything is written — a kill at any earlier point
leaves the declared outputs empty (the staging directory is not an output).

Layout as the in-memory job's: train/, validation/, test/ (CSV part files), report/ (report.json,
report.html), transformer/ (transformer.skops, policy.yaml). The splits are drawn per row from a seeded
generator of the row's partition and its position there, so they do not depend on the order the batches
reach the driver; they are not stratified on the label (the in-memory split is).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from privml.anonymize import SPLITS
from privml.io.tables import csv_bytes
from privml.policy import dump_policy
from privml.report import write_reports
from privml.spark.errors import driver_errors, in_worker
from privml.spark.job import SparkAnonymized

LAYOUT = {
    "report": ["report.json", "report.html"],
    "transformer": ["transformer.skops", "policy.yaml"],
}
# the rendered release: one row per (partition, batch, split) holding that part file's bytes
RENDERED_COLUMNS = ("partition", "batch", "split", "rows", "csv")


def render_parts(fractions: tuple[float, float, float], seed: int,
                 batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    """mapInPandas body: each batch's rows drawn into the splits and rendered as CSV bytes. It writes
    nothing: the driver does (see the module docstring)."""
    from pyspark import TaskContext

    context = TaskContext.get()
    partition = context.partitionId() if context is not None else 0
    rng = np.random.default_rng([seed, partition])
    edges = np.cumsum(fractions)[:-1]
    for number, batch in enumerate(batches):
        split = np.searchsorted(edges, rng.random(len(batch)), side="right")
        rendered = []
        for index, name in enumerate(SPLITS):
            part = batch.loc[split == index]
            if not part.empty:
                rendered.append((partition, number, name, len(part), csv_bytes(part)))
        yield pd.DataFrame(rendered, columns=list(RENDERED_COLUMNS))


def _rendered_schema() -> Any:
    from pyspark.sql.types import BinaryType, IntegerType, LongType, StringType, StructField, StructType

    return StructType([StructField("partition", IntegerType(), False), StructField("batch", IntegerType(), False),
                       StructField("split", StringType(), False), StructField("rows", LongType(), False),
                       StructField("csv", BinaryType(), False)])


def _write_private(path: Path, data: bytes) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)


def write_parts(rendered: Any, staging: Path) -> dict[str, int]:
    """The driver's half: every rendered part file written under `staging`/<split>/; the rows of each
    split."""
    from pyspark import StorageLevel

    rows = dict.fromkeys(SPLITS, 0)
    # Rendered in parallel first (toLocalIterator alone computes one partition at a time), kept on disk,
    # then spread one rendered part per partition, as toLocalIterator brings the driver a whole partition
    # at a time: an input partition is a whole CSV file (multi-line values make CSV unsplittable), and a
    # 10M-row file's 850 MB of parts in one fetch exhausted the driver's 1 GB heap. The parts' names come
    # from where they were rendered, so the order they arrive in changes nothing.
    rendered = rendered.persist(StorageLevel.DISK_ONLY)
    try:
        parts = rendered.count()
        for part in rendered.repartition(max(1, parts)).toLocalIterator(prefetchPartitions=True):
            name = f"part-{part['partition']:05d}-{part['batch']:04d}.csv"
            _write_private(staging / part["split"] / name, bytes(part["csv"]))
            rows[part["split"]] += int(part["rows"])
    finally:
        rendered.unpersist()
    return rows


def write_release(result: SparkAnonymized, out: Path, *, fractions: tuple[float, float, float],
                  seed: int) -> dict[str, int]:
    """Write the release under `out` (train/, validation/, test/, report/, transformer/); returns the
    rows of each split."""
    out.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".privml-staging-", dir=out.parent))
    try:
        for name in (*SPLITS, *LAYOUT):
            (staging / name).mkdir()
        release, source = result.release_batches, result.source
        if release is None or source is None:  # only the released DataFrame: one more Arrow pass
            release, source = (lambda batches: batches), result.data
        body = in_worker(lambda batches: render_parts(fractions, seed, release(batches)))
        with driver_errors("writing the release"):
            rows = write_parts(source.mapInPandas(body, _rendered_schema()), staging)
        if sum(rows.values()) != result.report["rows_out"]:
            # never a release whose report counts rows it does not hold
            raise RuntimeError(f"Spark wrote {sum(rows.values())} rows, the report counts "
                               f"{result.report['rows_out']}")
        for name in SPLITS:
            if not any((staging / name).iterdir()):  # an empty split still has its header
                _write_private(staging / name / "part-empty.csv", csv_bytes(pd.DataFrame(columns=result.data.columns)))
        report = {**result.report, "splits": {name: {"rows": rows[name]} for name in SPLITS}}
        write_reports(staging / "report", report)
        result.transformer.save(staging / "transformer" / "transformer.skops")
        (staging / "transformer" / "policy.yaml").write_text(dump_policy(result.policy), encoding="utf-8")
        for name in (*SPLITS, *LAYOUT):
            target = out / name
            if target.exists() and not any(target.iterdir()):
                target.rmdir()
            os.rename(staging / name, target)  # the commit: one rename per output directory
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return rows


def spark_read(spark: Any, files: list[Path], *, bad_rows: str = "error") -> Any:
    """Every CSV and Parquet file as one DataFrame of string columns (empty cells missing), as
    `privml.io.read_table` reads each file in memory."""
    from pyspark.sql import functions as F

    from privml.errors import PrivmlError
    from privml.io.tables import _sniff_delimiter

    frames = []
    csv_files = [f for f in files if f.suffix.lower() not in (".parquet", ".pq")]
    parquet_files = [f for f in files if f.suffix.lower() in (".parquet", ".pq")]
    by_delimiter: dict[str, list[str]] = {}
    for f in csv_files:
        by_delimiter.setdefault(_sniff_delimiter(f), []).append(str(f))
    with driver_errors("reading the input"):
        for delimiter, paths in sorted(by_delimiter.items()):
            frames.append(spark.read.options(header=True, sep=delimiter, quote='"', escape='"', multiLine=True,
                                             encoding="UTF-8", inferSchema=False,
                                             mode="DROPMALFORMED" if bad_rows == "skip" else "FAILFAST")
                          .csv(paths))
        if parquet_files:
            parquet = spark.read.parquet(*[str(f) for f in parquet_files])
            frames.append(parquet.select(*[F.col(c).cast("string").alias(c) for c in parquet.columns]))
    if not frames:
        raise PrivmlError("input: no CSV or Parquet files")
    frame = frames[0]
    for other in frames[1:]:
        if sorted(other.columns) != sorted(frame.columns):
            raise PrivmlError("input: the files do not all have the same columns")
        frame = frame.unionByName(other)
    return frame.select(*[F.when(F.col(c) == "", None).otherwise(F.col(c)).alias(c) for c in frame.columns])
