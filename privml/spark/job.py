"""The anonymization step on Spark: policy + Spark DataFrame of raw rows → released DataFrame, report,
fitted transformer — what `privml.anonymize.anonymize_table` gives in memory, partition by partition.

    result = anonymize_frame(raw, policy, key_provider=provider)
    result.data         # Spark DataFrame: anonymized columns and the label, suppressed rows left out
    result.transformer  # the fitted PrivacyTransformer (the same type, the same state as in memory)

Two passes over the input: the first applies the column techniques and aggregates the quasi-identifier
histogram (the Mondrian parts too); the second applies the whole fitted transformer per partition
(mapInPandas) and drops the rows of suppressed classes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pandas as pd

from privml.anonymize import SAFETY_NET_SAMPLE_ROWS, check_features
from privml.errors import PrivmlError
from privml.policy import Policy
from privml.report import build_report
from privml.spark.columns import apply_columns, as_text, output_columns
from privml.spark.errors import driver_errors, in_worker
from privml.spark.mondrian import DEFAULT_MAX_PARTITION_ROWS, fit_mondrian
from privml.spark.recoding import fit_recoding, tuple_histogram
from privml.transformer import PrivacyTransformer

# rows the driver reads to fit the column techniques and for the identifier safety net
SAMPLE_ROWS = 10 * SAFETY_NET_SAMPLE_ROWS


@dataclass
class SparkAnonymized:
    data: Any  # pyspark DataFrame
    report: dict[str, Any]
    transformer: PrivacyTransformer
    policy: Policy
    # `data` as its parts: the rows it is computed from and the mapInPandas body computing it, so the
    # writer can run that body and its own in one Python pass (no Arrow round trip between them)
    source: Any = None
    release_batches: Callable[[Iterator[pd.DataFrame]], Iterator[pd.DataFrame]] | None = None


def _sample(frame: Any) -> pd.DataFrame:
    with driver_errors("reading the first rows"):
        sample = frame.limit(SAMPLE_ROWS).toPandas()
    if sample.empty:
        raise PrivmlError("input: has a header but no data rows")
    return sample.astype(object).where(sample.notna(), None)


def refuse_unsupported(policy: Policy) -> None:
    """What the Spark engine does not do, refused before Spark starts (PrivmlError, exit 2): a control
    asked for is never silently dropped."""
    if policy.anonymity is not None and policy.anonymity.population:
        raise PrivmlError("anonymity.population: journalist risk is not computed on Spark; "
                          "use anonymize.engine: pandas or leave population out")


def anonymize_frame(frame: Any, policy: Policy, *, key_provider: Any = None,
                    max_partition_rows: int = DEFAULT_MAX_PARTITION_ROWS) -> SparkAnonymized:
    from pyspark.sql import functions as F

    refuse_unsupported(policy)
    sample = _sample(frame)
    check_features(sample, policy)
    qis = [c for c in policy.quasi_identifiers if c in frame.columns]
    missing: dict[str, int] = {}
    with driver_errors("counting the rows"):
        flags = [F.col(c).isNull().cast("long") for c in qis]
        # greatest() needs two columns or more
        any_missing = F.greatest(*flags) if len(flags) > 1 else flags[0] if flags else F.lit(0)
        counts = frame.select(F.count(F.lit(1)).alias("rows"), F.sum(any_missing).alias("__any"),
                              *[F.sum(F.col(c).isNull().cast("long")).alias(c) for c in qis]).first()
    rows_in = int(counts["rows"])
    rows_kept = rows_in
    if policy.anonymity is not None and qis:
        missing = {c: int(counts[c] or 0) for c in qis if counts[c]}
        if missing and policy.anonymity.missing == "suppress":
            frame = frame.dropna(how="any", subset=qis)
            rows_kept = rows_in - int(counts["__any"] or 0)
    transformer = PrivacyTransformer.from_policy(policy, suppressed_rows="drop")
    if key_provider is not None:
        transformer.set_key_provider(key_provider)
    transformer.fit_columns(sample)
    anonymized = apply_columns(frame, transformer, policy)
    engine = None
    suppressed: set[tuple] = set()
    if policy.anonymity is not None and policy.quasi_identifiers:
        from privml.policy.engine_config import anonymity_config

        config = anonymity_config(policy)
        if config.algorithm == "global_recoding":
            columns = [*config.quasi_identifiers, *[s for s in config.sensitive if s not in config.quasi_identifiers]]
            engine, suppressed = fit_recoding(config, tuple_histogram(anonymized, columns))
        else:
            engine = fit_mondrian(config, anonymized, max_partition_rows=max_partition_rows)
    # the rows the anonymity model was fitted on (after `missing: suppress`), and those it releases
    rows_fitted = rows_kept
    rows_kept = int(engine.report()["rows_out"]) if engine is not None else rows_kept
    transformer.attach_anonymity(engine, rows_fitted=rows_fitted, rows_out=rows_kept)

    def release_batches(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        return release_partitions(transformer, policy, suppressed, batches)

    released = release(frame, transformer, policy, release_batches)
    report = build_report(policy, transformer, rows_in=rows_in, rows_out=rows_kept)
    report["engine"] = "spark"
    if missing:
        report["missing_quasi_identifier_rule"] = policy.anonymity.missing if policy.anonymity else None
        # suppressed for them: 0 unless `suppress`, as in memory
        report["missing_quasi_identifier_rows"] = rows_in - rows_fitted
        report["missing_quasi_identifier_cells"] = missing
    return SparkAnonymized(data=released, report=report, transformer=transformer, policy=policy, source=frame,
                           release_batches=release_batches)


# stands for a missing cell in the released tuples compared with the suppressed ones (None != NaN
# for a MultiIndex); a control character no CSV cell of a generalized quasi-identifier holds
_MISSING = "\x00privml-missing"


def _tuples_index(tuples: pd.DataFrame) -> pd.MultiIndex:
    return pd.MultiIndex.from_frame(tuples.astype(object).where(tuples.notna(), _MISSING))


def release_partitions(transformer: PrivacyTransformer, policy: Policy, suppressed: set[tuple],
                       batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    """mapInPandas body of the release: the fitted transformer, the label re-attached, the rows of
    suppressed classes dropped (one hashed lookup per batch, not a Python test per row)."""
    qis = list(policy.quasi_identifiers)
    label = policy.label
    suppressed_index = _tuples_index(pd.DataFrame(list(suppressed), columns=qis)) if suppressed else None
    for batch in batches:
        batch = batch.astype(object).where(batch.notna(), None)
        out = transformer.transform(batch)
        if label is not None and label in batch.columns:
            out[label] = batch[label]
        if suppressed_index is not None:
            out = out.loc[~_tuples_index(out[qis]).isin(suppressed_index)]
        yield as_text(out)


def release(frame: Any, transformer: PrivacyTransformer, policy: Policy,
            release_batches: Callable[[Iterator[pd.DataFrame]], Iterator[pd.DataFrame]]) -> Any:
    from pyspark.sql.types import StringType, StructField, StructType

    columns = output_columns(policy, transformer, list(frame.columns))
    schema = StructType([StructField(c, StringType(), True) for c in columns])
    return frame.mapInPandas(in_worker(release_batches), schema)
