"""Helpers for the anonymity tests: tiny policies built in code, the Adult data when present."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from privml.policy import parse_policy
from tests.conftest import ADULT, REPO  # noqa: F401 - re-exported for the tests here

ADULT_COLUMNS = ["sex", "age", "race", "marital-status", "education", "native-country", "workclass",
                 "occupation", "salary-class"]


def make_policy(qis: dict[str, Any], anonymity: dict[str, Any], sensitive: tuple[str, ...] = (),
                base_dir: Path | None = None):
    columns: dict[str, Any] = {}
    for name, hierarchy in qis.items():
        col: dict[str, Any] = {"role": "quasi_identifier", "action": "keep"}
        if hierarchy is not None:
            col["hierarchy"] = hierarchy
        columns[name] = col
    for name in sensitive:
        columns[name] = {"role": "sensitive", "action": "keep"}
    return parse_policy({"columns": columns, "anonymity": anonymity}, base_dir=base_dir)


@pytest.fixture(scope="session")
def adult() -> pd.DataFrame:
    return pd.read_csv(ADULT / "adult.csv", sep=";", dtype=str)


def adult_policy(**anonymity: Any):
    qis = {c: str(ADULT / f"adult_hierarchy_{c}.csv") for c in ADULT_COLUMNS}
    return make_policy(qis, {"algorithm": "global_recoding", **anonymity})
