"""Property tests: every output of every algorithm satisfies its constraints; the lattice search
returns the true optimum (checked against exhaustive search on small lattices)."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from privml.anonymity.encoding import EncodedTable
from privml.anonymity.engine import AnonymityEngine
from privml.anonymity.hierarchy import Hierarchy
from privml.anonymity.lattice import Grouper, search, suppression_limit
from privml.anonymity.metrics import make_metric
from privml.anonymity.models import Constraints, SensitiveColumn, classes_ok
from privml.anonymity.risk import class_ids_of
from privml.policy.engine_config import anonymity_config
from tests.anonymity.states import as_json

from .conftest import make_policy

LETTERS = "abcdefgh"
# a 4-level hierarchy over a..h and a numeric interval hierarchy
CAT_ROWS = [[v, "ab" if v in "ab" else "cd" if v in "cd" else "efgh", "abcd" if v in "abcd" else "efgh", "*"]
            for v in LETTERS]


@st.composite
def tables(draw):
    n = draw(st.integers(min_value=8, max_value=60))
    cat = draw(st.lists(st.sampled_from(LETTERS), min_size=n, max_size=n))
    num = draw(st.lists(st.integers(min_value=0, max_value=39), min_size=n, max_size=n))
    sex = draw(st.lists(st.sampled_from("MF"), min_size=n, max_size=n))
    sens = draw(st.lists(st.sampled_from(["s0", "s1", "s2", "s3"]), min_size=n, max_size=n))
    return pd.DataFrame({"cat": cat, "num": [str(v) for v in num], "sex": sex, "sens": sens})


@st.composite
def targets(draw):
    out = {"k": draw(st.integers(min_value=1, max_value=5)),
           "max_suppression": draw(st.sampled_from([0.0, 0.05, 0.2]))}
    kind = draw(st.sampled_from([None, "distinct", "entropy", "recursive"]))
    if kind:
        out["l_diversity"] = {"kind": kind, "l": draw(st.sampled_from([1.5, 2, 3])) if kind != "distinct"
                              else draw(st.sampled_from([2, 3])), **({"c": 2.0} if kind == "recursive" else {})}
    if draw(st.booleans()):
        out["t_closeness"] = {"t": draw(st.sampled_from([0.3, 0.5, 0.8])),
                              "distance": draw(st.sampled_from(["equal", "ordered"]))}
    return out


def policy_for(tmp_path, anonymity, algorithm):
    h = tmp_path / "cat.csv"
    h.write_text("\n".join(";".join(r) for r in CAT_ROWS) + "\n")
    qis = {"cat": str(h), "num": {"type": "interval", "width": 5, "levels": 3}, "sex": None}
    return make_policy(qis, {"algorithm": algorithm, **anonymity}, sensitive=("sens",))


def released_ok(engine, df, released, anonymity):
    c = engine.constraints()
    ids, n = class_ids_of(released, ["cat", "num", "sex"])
    sizes = np.bincount(ids, minlength=n)
    sens = SensitiveColumn.encode("sens", df["sens"]).subset(df.index.get_indexer(released.index))
    assert classes_ok(ids, n, sizes, c, [sens]).all()
    assert len(df) - len(released) <= suppression_limit(anonymity.get("max_suppression", 0.0), len(df))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(df=tables(), anonymity=targets())
def test_global_recoding_output_satisfies_constraints(tmp_path, df, anonymity):
    engine = AnonymityEngine(anonymity_config(policy_for(tmp_path, anonymity, "global_recoding")))
    try:
        released = engine.fit_transform(df)
    except Exception as exc:  # an unreachable target must be CheckFailed, and then truly unreachable
        from privml.errors import CheckFailed

        assert isinstance(exc, CheckFailed)
        return
    released_ok(engine, df, released, anonymity)
    assert engine.report()["suppressed_rows"] == len(df) - len(released)
    restored = AnonymityEngine.from_state(as_json(engine.get_state()))
    pd.testing.assert_frame_equal(restored.transform(df).loc[released.index], released)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(df=tables(), anonymity=targets())
def test_mondrian_output_satisfies_constraints(tmp_path, df, anonymity):
    anonymity = {**anonymity, "max_suppression": 0.0}
    engine = AnonymityEngine(anonymity_config(policy_for(tmp_path, anonymity, "mondrian")))
    try:
        released = engine.fit_transform(df)
    except Exception as exc:
        from privml.errors import CheckFailed

        assert isinstance(exc, CheckFailed)
        return
    assert len(released) == len(df)
    released_ok(engine, df, released, anonymity)
    # routing the training rows again lands every row in its own box
    again = AnonymityEngine.from_state(engine.get_state()).transform(df)
    pd.testing.assert_frame_equal(again, released)


def _assert_search_is_optimal(table, constraints, sensitive, supp, m, n_rows) -> None:
    """The lattice search finds the least loss that brute force over every node finds, or none when none fits."""
    result = search(table, constraints, sensitive, supp, m)
    limit = suppression_limit(supp, n_rows)
    grouper = Grouper(table, constraints, sensitive, limit)
    best = None
    for node in itertools.product(*(range(h) for h in table.heights)):
        node = np.array(node)
        ids, _, sizes, ok = grouper.classes(node)
        if sizes[~ok].sum() <= limit:
            loss = m.exact(node, ~ok[ids], sizes[ok], sizes[~ok])
            best = loss if best is None else min(best, loss)
    if best is None:
        assert result is None
    else:
        assert result is not None
        assert abs(result.loss - best) <= 1e-9 * max(1.0, abs(best))


@settings(max_examples=30, deadline=None)
@given(df=tables(), k=st.integers(min_value=2, max_value=6), supp=st.sampled_from([0.0, 0.1, 0.3]),
       metric=st.sampled_from(["entropy", "loss", "discernibility"]))
def test_lattice_search_is_optimal(df, k, supp, metric):
    hierarchies = {
        "cat": Hierarchy("cat", [list(r) for r in CAT_ROWS]),
        "num": Hierarchy.builtin("num", {"type": "interval", "width": 5, "levels": 3}, df["num"]),
        "sex": Hierarchy.flat("sex", df["sex"]),
    }
    table = EncodedTable.encode(df, hierarchies)
    constraints = Constraints(k=k)
    m = make_metric(metric, table)
    _assert_search_is_optimal(table, constraints, [], supp, m, len(df))


@settings(max_examples=30, deadline=None)
@given(df=tables(), anonymity=targets(), metric=st.sampled_from(["entropy", "loss"]))
def test_lattice_search_is_optimal_with_l_and_t(df, anonymity, metric):
    hierarchies = {
        "cat": Hierarchy("cat", [list(r) for r in CAT_ROWS]),
        "num": Hierarchy.builtin("num", {"type": "interval", "width": 5, "levels": 3}, df["num"]),
    }
    table = EncodedTable.encode(df, hierarchies)
    ld, tc = anonymity.get("l_diversity"), anonymity.get("t_closeness")
    constraints = Constraints(k=anonymity["k"], l_kind=ld["kind"] if ld else None, l=ld["l"] if ld else 1.0,
                              c=ld.get("c") if ld else None, t=tc["t"] if tc else None,
                              t_distance=tc["distance"] if tc else "equal")
    sens = [SensitiveColumn.encode("sens", df["sens"])]
    m = make_metric(metric, table)
    supp = anonymity["max_suppression"]
    _assert_search_is_optimal(table, constraints, sens, supp, m, len(df))
