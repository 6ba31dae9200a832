"""`AnonymityEngine.row_router()` against `AnonymityEngine.transform`, row by row: Mondrian (numeric, date,
categorical axes with and without a hierarchy) and global recoding (ARX file and built-in hierarchies),
for training rows, unseen and missing values and the edge cases it hands back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from privml.anonymity.engine import AnonymityEngine
from privml.errors import PrivmlError
from privml.policy.engine_config import anonymity_config
from privml.rowform import NotCompiled
from tests.anonymity.states import as_json

from .conftest import make_policy

ROWS = 300


def _table(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    days = rng.integers(0, 3000, ROWS)
    return pd.DataFrame({
        "age": rng.integers(18, 90, ROWS).astype(str),
        "income": rng.normal(50, 10, ROWS).round(2).astype(str),
        "town": rng.choice(["Oslo", "Rome", "Lima", "Pune", "Kyiv"], ROWS),
        "degree": rng.choice(["Bachelors", "Masters", "HS-grad"], ROWS),
        "admitted": [str((pd.Timestamp("2015-01-01") + pd.Timedelta(days=int(d))).date()) for d in days],
    }, dtype="str")


@pytest.fixture(scope="module")
def degree_hierarchy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("h") / "degree.csv"
    path.write_text("Bachelors;Degree;*\nMasters;Degree;*\nHS-grad;School;*\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module", params=["mondrian", "global_recoding"])
def engine(request: pytest.FixtureRequest, degree_hierarchy: Path) -> AnonymityEngine:
    if request.param == "mondrian":
        qis = {"age": None, "income": None, "town": None, "degree": str(degree_hierarchy),
               "admitted": {"type": "date", "levels": ["month", "year"]}}
        anonymity = {"algorithm": "mondrian", "k": 5}
    else:
        qis = {"age": {"type": "interval", "width": 5, "levels": 3}, "town": None, "degree": str(degree_hierarchy)}
        anonymity = {"algorithm": "global_recoding", "k": 5, "max_suppression": 0.05}
    fitted = AnonymityEngine(anonymity_config(make_policy(qis, anonymity)))
    fitted.fit(_table()[list(qis)])
    # what a served model holds: the engine rebuilt from its saved state
    return AnonymityEngine.from_state(as_json(fitted.get_state()))


def _compare(engine: AnonymityEngine, rows: list[list[str | None]]) -> list[bool]:
    """Check the router against `transform` on each row; returns, per row, whether it was handed back."""
    route = engine.row_router()
    qis = engine.quasi_identifiers
    handed_back = []
    for row in rows:
        try:
            got = route(row)
        except NotCompiled:
            handed_back.append(True)
            continue
        handed_back.append(False)
        expected = engine.transform(pd.DataFrame([row], columns=qis, dtype="str")).iloc[0].tolist()
        assert got == expected, f"row {row}: router {got}, transform {expected}"
    return handed_back


def test_training_rows_are_routed_as_transform_routes_them(engine: AnonymityEngine) -> None:
    rows = _table()[engine.quasi_identifiers].head(60).values.tolist()
    assert _compare(engine, rows) == [False] * len(rows)  # the plain case is never handed back


def test_unseen_values_are_released_as_transform_releases_them(engine: AnonymityEngine) -> None:
    base = _table(seed=1)[engine.quasi_identifiers].head(10).values.tolist()
    j = engine.quasi_identifiers.index("town")
    rows = [[*r[:j], "Atlantis", *r[j + 1:]] for r in base]
    assert _compare(engine, rows) == [False] * len(rows)


def test_missing_values(engine: AnonymityEngine) -> None:
    base = _table(seed=2)[engine.quasi_identifiers].head(5).values.tolist()
    rows = [[None if i == j else v for i, v in enumerate(r)] for r in base for j in range(len(r))]
    handed_back = _compare(engine, rows)
    if engine.config.algorithm == "global_recoding":
        assert all(handed_back)  # a missing quasi-identifier: the pipeline's rules decide
    else:
        assert not any(handed_back)  # Mondrian releases it as the root, as transform does


EDGE = st.one_of(st.none(), st.sampled_from(["", " 37", "1e2", "inf", "nan", "2021-02-30", "2021", "2021-07",
                                              "1500-01-01", "2300-01-01", "21-07-01", "Atlantis", "√ü", "٣"]),
                 st.from_regex(r"-?\d{1,3}(\.\d{1,2})?", fullmatch=True),
                 st.from_regex(r"(19|20)\d\d(-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01]))?)?", fullmatch=True),
                 st.text(max_size=5))


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_edge_cases_match_transform_or_are_handed_back(engine: AnonymityEngine, data: st.DataObject) -> None:
    base = _table(seed=3)[engine.quasi_identifiers].values.tolist()
    row = list(base[data.draw(st.integers(0, ROWS - 1))])
    for j in data.draw(st.sets(st.integers(0, len(row) - 1), min_size=1)):
        row[j] = data.draw(EDGE)
    _compare(engine, [row])


def test_an_unfitted_engine_has_no_router() -> None:
    engine = AnonymityEngine(anonymity_config(make_policy({"age": None}, {"algorithm": "mondrian", "k": 2})))
    with pytest.raises(PrivmlError, match="not fitted"):
        engine.row_router()
