"""Models saved by an earlier privml, to check that what is on disk keeps loading and scoring the same.

`python -m tests.anonymity.saved_models OUT_DIR` (run from a checkout of the version that saves them)
fits one model per anonymity algorithm on privml's sample data and writes, per model,
`model-<algorithm>.skops` and `model-<algorithm>.json` (the probabilities it gives REQUESTS). The files
in tests/anonymity/data were written by main at 18cb8a8, the last version whose engine took an untyped
config dict.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

LABEL = "readmitted"
FEATURES = ["age", "sex", "zip_code", "education", "income", "hours_per_week"]


def policy(algorithm: str) -> dict[str, Any]:
    columns: dict[str, Any] = {name: {"role": "identifier", "action": "drop"} for name in (
        "name", "email", "phone", "credit_card", "street_address", "ip_address", "notes")}
    columns["ssn"] = {"role": "identifier", "action": "redact"}
    columns["zip_code"] = {"role": "quasi_identifier", "action": "generalize", "params": {"prefix": 3}}
    columns["education"] = {"role": "quasi_identifier", "action": "keep"}
    columns["income"] = {"role": "feature", "action": "keep"}
    columns["hours_per_week"] = {"role": "feature", "action": "keep"}
    columns["num_visits"] = {"role": "feature", "action": "drop"}
    columns["date_of_birth"] = {"role": "feature", "action": "drop"}
    columns[LABEL] = {"role": "label"}
    if algorithm == "mondrian":
        columns["age"] = {"role": "quasi_identifier", "action": "keep"}
        columns["sex"] = {"role": "quasi_identifier", "action": "keep"}
        columns["admission_date"] = {"role": "quasi_identifier", "action": "keep",
                                     "hierarchy": {"type": "date", "levels": ["month", "year"]}}
        columns["diagnosis"] = {"role": "sensitive", "action": "keep"}
        anonymity = {"algorithm": "mondrian", "k": 5, "l_diversity": {"kind": "distinct", "l": 2}}
    else:
        columns["age"] = {"role": "quasi_identifier", "action": "keep",
                          "hierarchy": {"type": "interval", "width": 5, "levels": 3}}
        columns["sex"] = {"role": "feature", "action": "keep"}
        columns["admission_date"] = {"role": "feature", "action": "drop"}
        columns["diagnosis"] = {"role": "feature", "action": "drop"}
        anonymity = {"algorithm": "global_recoding", "k": 5, "max_suppression": 0.1, "metric": "loss",
                     "max_risk": 0.25}
    return {"version": 1, "columns": columns, "anonymity": anonymity}


def raw(rows: int, seed: int) -> Any:
    from privml.sampledata import generate

    return generate(rows, seed=seed).astype("str")


def requests() -> Any:
    """Rows to score: unseen rows of the sample data, some with an unseen category or a missing number."""
    rows = raw(40, seed=101).drop(columns=[LABEL])
    rows.loc[rows.index[::5], "education"] = "Unseen-Degree"
    rows.loc[rows.index[::7], "income"] = None
    return rows


def build(algorithm: str) -> Any:
    from sklearn.pipeline import Pipeline

    from privml.models.estimators import fit_model
    from privml.policy import parse_policy
    from privml.transformer import PrivacyTransformer

    table = raw(600, seed=5)
    privacy = PrivacyTransformer.from_policy(parse_policy(policy(algorithm)), key_provider="none")
    anonymized = privacy.fit_transform(table)
    y = table.loc[anonymized.index, LABEL].astype(int).to_numpy()
    fitted = fit_model("logreg", anonymized, y, columns=FEATURES, numeric=None, bounds={}, seed=0)
    privacy.serve_only(FEATURES)
    return Pipeline([("privacy", privacy), ("model", fitted.pipeline)])


def main(out: Path) -> None:
    from privml.models.persistence import save_model

    out.mkdir(parents=True, exist_ok=True)
    for algorithm in ("mondrian", "global_recoding"):
        model = build(algorithm)
        save_model(model, out / f"model-{algorithm}.skops")
        probabilities = model.predict_proba(requests()).tolist()
        (out / f"model-{algorithm}.json").write_text(json.dumps(probabilities) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
