"""A fit done in parts (Spark partitions, streamed batches) through PrivacyTransformer's public methods:
`fit_columns` on the first rows, `check_batch` on every other part, `attach_anonymity` with the model
fitted over the whole table — the same fitted transformer as `fit` on the whole table."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from privml.anonymity.engine import AnonymityEngine
from privml.errors import PrivmlError
from privml.policy import parse_policy
from privml.policy.engine_config import anonymity_config
from privml.transformer import PrivacyTransformer

POLICY = {
    "columns": {
        "ssn": {"role": "identifier", "action": "drop"},
        "age": {"role": "quasi_identifier", "action": "generalize", "params": {"width": 5}},
        "city": {"role": "quasi_identifier", "action": "keep"},
        "hours": {"role": "feature", "action": "generalize", "params": {"width": 10}},
        "y": {"role": "label", "action": "keep"},
    },
    "anonymity": {"algorithm": "mondrian", "k": 4},
}
COLUMNS_ONLY = {**POLICY, "anonymity": None}


def table(n: int = 60, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "ssn": [f"123-45-{i:04d}" for i in range(n)],
        "age": rng.integers(18, 80, n).astype(str),
        "city": rng.choice(["Boston", "Austin", "Denver"], n),
        "hours": rng.integers(10, 60, n).astype(str),
        "y": rng.choice(["0", "1"], n),
    })


def _state(transformer: PrivacyTransformer) -> str:
    return json.dumps({"columns": transformer.column_states_, "out": transformer.columns_out_,
                       "anonymity": transformer.anonymity_state_, "rows": [transformer.n_rows_fitted_,
                                                                           transformer.n_rows_out_]},
                      sort_keys=True, default=str)


def test_a_fit_in_parts_is_the_fit_on_the_whole_table() -> None:
    rows = table()
    whole = PrivacyTransformer(policy=POLICY, key_provider="none").fit(rows)
    parts = PrivacyTransformer(policy=POLICY, key_provider="none").fit_columns(rows.iloc[:10])
    assert parts.anonymity_engine() is None  # the columns only: the model is fitted over the whole table
    for start in range(10, len(rows), 10):
        parts.check_batch(rows.iloc[start:start + 10])
    engine = AnonymityEngine(anonymity_config(parse_policy(POLICY)))
    anonymized = PrivacyTransformer(policy=COLUMNS_ONLY, key_provider="none").fit(rows).transform(rows)
    engine.fit(anonymized)
    parts.attach_anonymity(engine, rows_fitted=len(rows), rows_out=len(rows))
    assert _state(parts) == _state(whole)
    assert parts.transform(rows).equals(whole.transform(rows))
    assert parts.suppressed_labels_ == whole.suppressed_labels_ == []


def test_check_batch_fails_a_part_as_fit_fails_the_table_naming_the_column_not_the_value() -> None:
    rows = table()
    transformer = PrivacyTransformer(policy=POLICY, key_provider="none").fit_columns(rows.iloc[:10])
    bad = rows.iloc[10:20].copy()
    bad.loc[bad.index[3], "hours"] = "Canary-Not-A-Number"
    with pytest.raises(PrivmlError) as in_memory:
        PrivacyTransformer(policy=POLICY, key_provider="none").fit(pd.concat([rows.iloc[:10], bad]))
    with pytest.raises(PrivmlError) as in_parts:
        transformer.check_batch(bad)
    for raised in (in_memory, in_parts):
        assert "hours" in str(raised.value) and "Canary" not in str(raised.value)
    with pytest.raises(PrivmlError, match="missing from the table: city"):
        transformer.check_batch(rows.iloc[10:20].drop(columns=["city"]))


def test_attach_anonymity_refuses_a_model_the_policy_does_not_ask_for_and_a_missing_one() -> None:
    rows = table()
    wants = PrivacyTransformer(policy=POLICY, key_provider="none").fit_columns(rows)
    with pytest.raises(PrivmlError, match="asks for an anonymity model"):
        wants.attach_anonymity(None, rows_fitted=len(rows), rows_out=len(rows))
    engine = AnonymityEngine(anonymity_config(parse_policy(POLICY)))
    engine.fit(wants.transform(rows))
    plain = PrivacyTransformer(policy=COLUMNS_ONLY, key_provider="none").fit_columns(rows)
    with pytest.raises(PrivmlError, match="not the policy's"):
        plain.attach_anonymity(engine, rows_fitted=len(rows), rows_out=len(rows))
    plain.attach_anonymity(None, rows_fitted=len(rows), rows_out=len(rows))
    assert plain.anonymity_engine() is None and plain.n_rows_out_ == len(rows)


def test_fit_columns_forgets_a_previous_fit() -> None:
    rows = table()
    transformer = PrivacyTransformer(policy=POLICY, key_provider="none").fit(rows)
    assert transformer.anonymity_engine() is not None
    transformer.fit_columns(rows.iloc[:10])
    assert transformer.anonymity_engine() is None
    assert not hasattr(transformer, "n_rows_out_")
