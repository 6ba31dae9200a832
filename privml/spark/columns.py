"""The transformer's column techniques on Spark: fitted once on the driver, applied per partition.

A technique's fitted state does not depend on the rows (hierarchy mappings come from the policy's files;
`fit` otherwise only checks that the column parses), so the driver fits the transformer's column
techniques on a few rows (`PrivacyTransformer.fit_columns`) and every partition is checked as `fit` checks
the table (`check_batch`) before `transform`: a row that does not parse fails the job exactly as it fails
the in-memory fit. The fitted transformer is shipped to the workers by pickling, which drops its key
provider and derived secrets (`__getstate__`): each worker derives them again through the provider its
environment names ($PRIVML_KEY_PROVIDER), as a served model does.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pandas as pd

from privml.policy import Policy
from privml.spark.errors import in_worker
from privml.transformer import PrivacyTransformer


def output_columns(policy: Policy, transformer: PrivacyTransformer, columns: list[str]) -> list[str]:
    """The released table's columns: the transformer's output, then the label (re-attached)."""
    out = list(transformer.columns_out_)
    label = policy.label
    if label is not None and label in columns and label not in out:
        out.append(label)
    return out


def transform_partitions(transformer: PrivacyTransformer, policy: Policy,
                         batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    """mapInPandas body: check each batch as `fit` would, apply the techniques, keep the label."""
    label = policy.label
    for batch in batches:
        batch = transformer.check_batch(batch.astype(object).where(batch.notna(), None))
        out = transformer.transform(batch)
        if label is not None and label in batch.columns:
            out[label] = batch[label]
        yield as_text(out)


def apply_columns(frame: Any, transformer: PrivacyTransformer, policy: Policy) -> Any:
    """The Spark DataFrame of anonymized columns (every row; the anonymity model is not applied yet)."""
    from pyspark.sql.types import StringType, StructField, StructType

    columns = output_columns(policy, transformer, list(frame.columns))
    schema = StructType([StructField(c, StringType(), True) for c in columns])
    body = in_worker(lambda batches: transform_partitions(transformer, policy, batches))
    return frame.mapInPandas(body, schema)


def as_text(frame: pd.DataFrame) -> pd.DataFrame:
    """Every cell as the text the CSV writer gives it, `str(value)` (None for missing): the columns of a
    Spark string schema. Column-wise, not cell by cell: this runs on every released row."""
    return pd.DataFrame({c: frame[c].astype(str).astype(object).where(frame[c].notna(), None)
                         for c in frame.columns}, index=frame.index, dtype=object)
