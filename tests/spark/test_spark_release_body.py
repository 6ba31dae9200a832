"""The release's mapInPandas body, run as Spark runs it (batch by batch) but without Spark: it drops
exactly the rows the in-memory fit suppresses, a missing cell matching a missing cell, and renders every
cell as `str` gives it."""

from __future__ import annotations

import numpy as np
import pandas as pd

from privml.spark.columns import as_text
from privml.spark.job import release_partitions
from privml.transformer import PrivacyTransformer
from tests.anonymity.conftest import ADULT, adult_policy


def test_the_release_body_drops_the_suppressed_classes_as_the_in_memory_fit() -> None:
    adult = pd.read_csv(ADULT / "adult.csv", sep=";", dtype=str)
    policy = adult_policy(k=10, max_suppression=0.04)
    transformer = PrivacyTransformer.from_policy(policy, suppressed_rows="drop", key_provider="none")
    expected = transformer.fit_transform(adult)
    qis = list(policy.quasi_identifiers)
    dropped = transformer.transform(adult.loc[transformer.suppressed_labels_])[qis]
    suppressed = {tuple(row) for row in dropped.itertuples(index=False)}
    assert suppressed and len(expected) < len(adult)
    batches = (adult.iloc[i:i + 5000] for i in range(0, len(adult), 5000))
    released = pd.concat(list(release_partitions(transformer, policy, suppressed, batches)))
    assert released.index.equals(expected.index)
    assert released[qis].equals(as_text(expected[qis]))


def test_a_missing_cell_matches_only_a_missing_cell() -> None:
    from privml.spark import job

    released = pd.DataFrame({"zip": ["021*", None, "021*", None], "age": ["*", "*", None, None]})
    index = job._tuples_index(pd.DataFrame([("021*", None), (None, "*")], columns=["zip", "age"]))
    assert job._tuples_index(released).isin(index).tolist() == [False, True, True, False]


def test_as_text_is_str_of_every_cell_and_none_for_missing() -> None:
    frame = pd.DataFrame({"mixed": pd.Series([1.5, None, "a", 3, 1e16, np.float64(0.3), True, np.nan],
                                             dtype=object),
                          "floats": [1.0, np.nan, 2.5, 0.1, 7.0, 1e-7, 3.0, 4.0]})
    text = as_text(frame)
    for column in frame.columns:
        assert text[column].tolist() == [None if pd.isna(v) else str(v) for v in frame[column].tolist()]
    assert all(dtype is np.dtype(object) for dtype in text.dtypes) and text.index.equals(frame.index)
