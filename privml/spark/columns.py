"""The transformer's column techniques on Spark: fitted once on the driver, applied per partition.

A technique's fitted state does not depend on the rows (hierarchy mappings come from the policy's files;
`fit` otherwise only checks that the column parses), so the driver fits the transformer on a few rows and
every partition runs the same checks with the same technique classes before `transform`: a row that
does not parse fails the job exactly as it fails the in-memory fit. The fitted transformer is shipped to
the workers by pickling, which drops its key provider and derived secrets (`__getstate__`): each worker
derives them again through the provider its environment names ($PRIVML_KEY_PROVIDER), as a served model
does.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pandas as pd

from privml.errors import PrivmlError
from privml.policy import Policy, Role
from privml.spark.errors import in_worker
from privml.transformer import PrivacyTransformer
from privml.transforms.base import Technique


def fit_columns(transformer: PrivacyTransformer, sample: pd.DataFrame) -> PrivacyTransformer:
    """Fit the transformer's column techniques (no anonymity model yet) on `sample`, the first rows."""
    policy = transformer._parsed_policy()
    saved = policy.anonymity
    if saved is None:
        return transformer.fit(sample)
    # The anonymity model is fitted on the whole table later (recoding.py, mondrian.py); the techniques
    # are fitted here exactly as fit_transform fits them, on a copy of the policy without it.
    columns_only = PrivacyTransformer.from_policy(policy.model_copy(update={"anonymity": None}),
                                                  key_provider=transformer.key_provider,
                                                  suppressed_rows=transformer.suppressed_rows)
    provider = getattr(transformer, "_provider", None)
    if provider is not None:
        columns_only.set_key_provider(provider)
    columns_only.fit(sample)
    for attr in ("feature_names_in_", "n_features_in_", "key_ids_", "column_states_", "columns_out_"):
        setattr(transformer, attr, getattr(columns_only, attr))
    transformer.anonymity_state_ = None
    transformer.suppressed_labels_ = []
    if provider is not None:
        transformer.set_key_provider(provider)
    return transformer


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
    checked = [c for c, spec in policy.columns.items()
               if spec.role is not Role.LABEL and type(transformer._technique(c)).fit is not Technique.fit]
    for batch in batches:
        batch = batch.astype(object).where(batch.notna(), None)
        for column in checked:
            state = transformer._technique(column).fit(batch[column], transformer._context(column, batch))
            if state != transformer.column_states_.get(column, {}):
                raise PrivmlError(f"column {column}: a partition fits a different state than the driver")
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
    """Every cell as the text the CSV writer gives it (None for missing): the columns of a Spark
    string schema."""
    return pd.DataFrame({c: [None if pd.isna(v) else str(v) for v in frame[c].tolist()] for c in frame.columns},
                        index=frame.index, dtype=object)
