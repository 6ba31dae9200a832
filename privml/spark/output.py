"""The Spark job's outputs, all or nothing: every file is written under one staging directory beside the
declared outputs, and each output directory is renamed into place only when everything is written — a
kill at any earlier point leaves the declared outputs empty (the staging directory is not an output).

Layout as the in-memory job's: train/, validation/, test/ (CSV part files, written per partition by the
same CSV writer as `privml.io.write_table`), report/ (report.json, report.html), transformer/
(transformer.skops, policy.yaml). The splits are drawn per row from a seeded hash of its position in
the partition, so they do not depend on the order the rows are collected in; they are not stratified
on the label (the in-memory split is).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from privml.anonymize import SPLITS
from privml.policy import dump_policy
from privml.report import write_reports
from privml.spark.errors import driver_errors, in_worker
from privml.spark.job import SparkAnonymized

SPLIT = "__privml_split"
LAYOUT = {
    "report": ["report.json", "report.html"],
    "transformer": ["transformer.skops", "policy.yaml"],
}


def _write_parts(staging: Path, fractions: tuple[float, float, float], seed: int,
                 batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    from pyspark import TaskContext

    context = TaskContext.get()
    partition = context.partitionId() if context is not None else 0
    rng = np.random.default_rng([seed, partition])
    edges = np.cumsum(fractions)[:-1]
    for number, batch in enumerate(batches):
        split = np.searchsorted(edges, rng.random(len(batch)), side="right")
        written = []
        for index, name in enumerate(SPLITS):
            part = batch.loc[split == index]
            if part.empty:
                continue
            path = staging / name / f"part-{partition:05d}-{number:04d}-{uuid.uuid4().hex[:8]}.csv"
            part.to_csv(path, index=False)
            os.chmod(path, 0o600)
            written.append((name, len(part)))
        yield pd.DataFrame({"split": [w[0] for w in written], "rows": [w[1] for w in written]},
                           columns=["split", "rows"])


def write_release(result: SparkAnonymized, out: Path, *, fractions: tuple[float, float, float],
                  seed: int) -> dict[str, int]:
    """Write the release under `out` (train/, validation/, test/, report/, transformer/); returns the
    rows of each split."""
    from pyspark.sql.types import LongType, StringType, StructField, StructType

    out.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".privml-staging-", dir=out.parent))
    try:
        for name in (*SPLITS, *LAYOUT):
            (staging / name).mkdir()
        schema = StructType([StructField("split", StringType(), False), StructField("rows", LongType(), False)])
        body = in_worker(lambda batches: _write_parts(staging, fractions, seed, batches))
        with driver_errors("writing the release"):
            written = result.data.mapInPandas(body, schema).toPandas()
        rows = {name: int(written.loc[written["split"] == name, "rows"].sum()) for name in SPLITS}
        for name in SPLITS:
            if not any((staging / name).iterdir()):  # an empty split still has its header
                pd.DataFrame(columns=result.data.columns).to_csv(staging / name / "part-empty.csv", index=False)
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
