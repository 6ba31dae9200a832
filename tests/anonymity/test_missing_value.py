"""`anonymity.missing`: an empty quasi-identifier cell as its own value (the default), suppressed, or an
error; the engine, the report and the one-row serving router agree on every rule."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from privml.anonymity.engine import AnonymityEngine
from privml.anonymity.hierarchy import ROOT
from privml.anonymity.missing import MISSING
from privml.errors import PrivmlError
from privml.policy.engine_config import anonymity_config
from privml.serving.cells import NotCompiled
from tests.anonymity.conftest import make_policy
from tests.anonymity.states import as_json

AGE = {"type": "interval", "width": 10, "levels": 2}
ZIP = {"type": "prefix", "levels": 2}
QIS: dict[str, Any] = {"age": AGE, "zip": ZIP, "sex": None}


def _table(n: int = 600, *, missing_age: float = 0.1, missing_sex: float = 0.05, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "age": rng.integers(18, 90, n).astype(float),
        "zip": [f"{z:05d}" for z in rng.choice([10115, 10117, 10119, 20095, 20097, 80331, 80333], n)],
        "sex": rng.choice(["F", "M"], n).astype(object),
        "illness": rng.choice(["flu", "asthma", "none", "diabetes"], n),
    })
    frame.loc[rng.random(n) < missing_age, "age"] = np.nan
    frame.loc[rng.random(n) < missing_sex, "sex"] = None
    return frame


def _engine(algorithm: str, missing: str, **anonymity: Any) -> AnonymityEngine:
    policy = make_policy(QIS, {"algorithm": algorithm, "k": 5, "missing": missing, **anonymity})
    return AnonymityEngine(anonymity_config(policy))


def _class_sizes(released: pd.DataFrame) -> pd.Series:
    return released[list(QIS)].astype(str).value_counts()  # a missing cell ("None") is a value like any other


@pytest.mark.parametrize("algorithm", ["global_recoding", "mondrian"])
def test_missing_as_value_keeps_every_row_and_holds_k_over_classes_with_missing_cells(algorithm: str) -> None:
    frame = _table()
    engine = _engine(algorithm, "value", max_suppression=0.05)
    released = engine.fit_transform(frame)
    assert engine.report()["rows_in"] == len(frame)
    assert _class_sizes(released).min() >= 5 and engine.report()["k"] >= 5
    # a missing cell is released as missing or as the top `*`, never as a value it did not have
    was_missing = frame.loc[released.index, "age"].isna()
    assert set(released.loc[was_missing, "age"].map(lambda v: "missing" if v is None else v)) <= {"missing", ROOT}
    assert not released.astype(str).isin([MISSING]).any().any()  # the internal leaf never leaves the engine
    # present ages are never released as missing
    assert released.loc[~was_missing, "age"].notna().all()


def test_global_recoding_keeps_missing_its_own_class_below_the_top() -> None:
    frame = _table()
    engine = _engine("global_recoding", "value", max_suppression=0.05)
    released = engine.fit_transform(frame)
    level, height = engine.levels_["age"], engine.hierarchies_["age"].height
    was_missing = frame.loc[released.index, "age"].isna()
    expected = ROOT if level == height - 1 else None
    assert (released.loc[was_missing, "age"].map(lambda v: v) == expected).all() if expected else \
        released.loc[was_missing, "age"].isna().all()
    row = next(r for r in engine.hierarchies_["age"].rows if r[0] == MISSING)
    assert row == [MISSING] * (height - 1) + [ROOT]  # its own value at every level, `*` only at the top


def test_mondrian_cuts_missing_onto_its_own_side_and_cuts_that_region_further() -> None:
    frame = _table(2000, missing_age=0.2)
    engine = _engine("mondrian", "value")
    released = engine.fit_transform(frame)
    was_missing = frame.loc[released.index, "age"].isna()
    missing_rows = released.loc[was_missing]
    assert missing_rows["age"].isna().all()  # enough of them: a region of their own, released as missing
    assert missing_rows[["zip", "sex"]].astype(str).drop_duplicates().shape[0] > 1  # cut on the others
    # no class of present ages holds a missing one
    assert released.loc[~was_missing, "age"].notna().all()


def test_without_missing_cells_the_rule_changes_nothing() -> None:
    frame = _table(missing_age=0.0, missing_sex=0.0)
    for algorithm in ("global_recoding", "mondrian"):
        value, error = _engine(algorithm, "value"), _engine(algorithm, "error")
        pd.testing.assert_frame_equal(value.fit_transform(frame), error.fit_transform(frame))
        a, b = as_json(value.get_state()), as_json(error.get_state())
        a["config"].pop("missing"), b["config"].pop("missing")
        assert a == b


def test_error_rule_names_the_row_and_suppress_leaves_the_rows_out() -> None:
    frame = _table()
    first = int(np.flatnonzero(frame["age"].isna().to_numpy())[0]) + 1
    with pytest.raises(PrivmlError, match=f"column age: data row {first} is empty"):
        _engine("mondrian", "error").fit(frame)


@pytest.mark.parametrize("rule", ["value", "suppress"])
def test_anonymize_counts_missing_cells_per_column_under_every_rule(rule: str) -> None:
    from privml.anonymize import anonymize_table
    from privml.policy import parse_policy

    frame = _table()
    policy = parse_policy({
        "columns": {"age": {"role": "quasi_identifier", "action": "keep", "hierarchy": AGE},
                    "zip": {"role": "quasi_identifier", "action": "keep", "hierarchy": ZIP},
                    "sex": {"role": "quasi_identifier", "action": "keep"},
                    "illness": {"role": "sensitive", "action": "keep"}},
        "anonymity": {"algorithm": "mondrian", "k": 5, **({} if rule == "value" else {"missing": rule})},
    })
    assert policy.anonymity is not None and policy.anonymity.missing == rule  # `value` is the default
    result = anonymize_table(frame, policy)
    cells = {"age": int(frame["age"].isna().sum()), "sex": int(frame["sex"].isna().sum())}
    assert result.report["missing_quasi_identifier_cells"] == cells
    either = int((frame["age"].isna() | frame["sex"].isna()).sum())
    assert result.report["missing_quasi_identifier_rows"] == (either if rule == "suppress" else 0)
    assert len(result.data) == len(frame) - (either if rule == "suppress" else 0)


def test_a_state_from_before_the_rule_still_refuses_missing_cells() -> None:
    engine = _engine("mondrian", "error")
    engine.fit(_table(missing_age=0.0, missing_sex=0.0))
    state = engine.get_state()
    state["config"].pop("missing")
    old = AnonymityEngine.from_state(state)
    with pytest.raises(PrivmlError, match="data row"):
        AnonymityEngine(config=old.config).fit(_table())


# -- the one-row router gives what the column-wise engine gives, or hands the row back -------------


def _requests(seed: int = 7) -> pd.DataFrame:
    rows = _table(300, missing_age=0.25, missing_sex=0.2, seed=seed)[list(QIS)]
    # as a request reaches the model: text cells, None for an empty one
    cells = pd.DataFrame({c: pd.Series([None if pd.isna(v) else str(int(v)) if c == "age" else str(v)
                                        for v in rows[c]], index=rows.index, dtype=object) for c in QIS})
    cells.loc[cells.index[::17], "age"] = "7"  # below the fitted range
    cells.loc[cells.index[::19], "zip"] = "99999"  # unseen
    return cells


@pytest.mark.parametrize("rule", ["value", "suppress", "error"])
@pytest.mark.parametrize("algorithm", ["global_recoding", "mondrian"])
def test_router_matches_the_engine_on_missing_cells_under_every_rule(algorithm: str, rule: str) -> None:
    frame = _table()
    if rule != "value":  # fitted without missing cells, as suppress and error leave the engine
        frame = frame.dropna(subset=list(QIS))
    engine = _engine(algorithm, rule, max_suppression=0.05)
    engine.fit(frame)
    requests = _requests()
    expected = engine.transform(requests)[list(QIS)]
    route = engine.row_router()
    compiled = handed_back = 0
    for i in range(len(requests)):
        cells = [requests[c].iloc[i] for c in QIS]
        try:
            got = route(cells)
        except NotCompiled:
            handed_back += 1
            continue
        want = [None if (v is None or (isinstance(v, float) and np.isnan(v))) else v for v in expected.iloc[i]]
        assert got == want, (i, cells)
        compiled += 1
    has_missing = requests.isna().any(axis=1).sum()
    assert compiled >= len(requests) - has_missing  # rows without a missing cell all compile
    if rule == "value" or algorithm == "mondrian":
        assert handed_back == 0  # missing cells compiled too (Mondrian: `*` outside a fitted region)
