"""A small fitted model like the training job's: [privacy (the real PrivacyTransformer), encode, classifier].

Fitted on privml's sample data read the way the jobs read it (every column a string); the policy drops,
tokenizes, redacts, masks and generalizes the identifying columns, so raw PII never reaches `encode`.
Also used by bench/bench_endpoint.py (`--model-factory tests.inference.model_factory:build`).
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from sklearn.pipeline import Pipeline

LABEL = "readmitted"
POLICY: dict[str, Any] = {
    "version": 1,
    "keys": {"tok": "alias/privml-test-endpoint"},
    "columns": {
        "name": {"role": "identifier", "action": "drop"},
        "email": {"role": "identifier", "action": "tokenize", "key": "tok"},
        "phone": {"role": "identifier", "action": "drop"},
        "ssn": {"role": "identifier", "action": "redact"},
        "credit_card": {"role": "identifier", "action": "drop"},
        "street_address": {"role": "identifier", "action": "drop"},
        "ip_address": {"role": "identifier", "action": "drop"},
        "notes": {"role": "identifier", "action": "drop"},
        "age": {"role": "quasi_identifier", "action": "generalize", "params": {"width": 10}},
        "sex": {"role": "quasi_identifier", "action": "keep"},
        "zip_code": {"role": "quasi_identifier", "action": "generalize", "params": {"prefix": 3}},
        "date_of_birth": {"role": "quasi_identifier", "action": "generalize", "params": {"date": "year"}},
        "admission_date": {"role": "quasi_identifier", "action": "generalize", "params": {"date": "month"}},
        "diagnosis": {"role": "sensitive", "action": "keep"},
        "income": {"role": "feature", "action": "keep"},
        "hours_per_week": {"role": "feature", "action": "keep"},
        "education": {"role": "feature", "action": "keep"},
        "num_visits": {"role": "feature", "action": "keep"},
        LABEL: {"role": "label"},
    },
}
FEATURES = ["age", "sex", "zip_code", "diagnosis", "income", "hours_per_week", "education", "num_visits"]


def raw_table(rows: int = 1500, seed: int = 3) -> pd.DataFrame:
    """Sample data as the jobs read it: strings, empty cells missing."""
    from privml.sampledata import generate

    frame = generate(rows, seed=seed)
    return frame.astype("str")


def build(rows: int = 1500, seed: int = 3, kind: str = "hgb") -> Pipeline:
    """`kind`: the training job's model kinds; hgb is its default, logreg fits fastest (tests)."""
    from privml.anonymize import ensure_local_keys
    from privml.models.estimators import fit_model
    from privml.policy import parse_policy
    from privml.transformer import PrivacyTransformer

    policy = parse_policy(POLICY, source="test policy")
    ensure_local_keys(policy.keys.values())
    raw = raw_table(rows, seed)
    privacy = PrivacyTransformer.from_policy(policy)
    anonymized = privacy.fit_transform(raw)  # fitted on the full raw table, label included, as the job does
    y = raw.loc[anonymized.index, LABEL].astype(int).to_numpy()
    fitted = fit_model(kind, anonymized, y, columns=FEATURES, numeric=None, bounds={}, seed=seed)
    privacy.serve_only(FEATURES)  # the served transform computes only what the model reads
    return Pipeline([("privacy", privacy), ("model", fitted.pipeline)])  # as privml.models.training builds it
