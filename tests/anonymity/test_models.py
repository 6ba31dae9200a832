"""k, l and t on hand-made tables whose values are known by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from privml.anonymity.models import (
    Constraints,
    SensitiveColumn,
    classes_ok,
    distinct_l,
    entropy_l,
    measure,
    recursive_cl_ok,
    t_distance,
)
from privml.anonymity.risk import class_ids_of, journalist, prosecutor, row_keys


def classes(df: pd.DataFrame, cols: list[str]):
    return class_ids_of(df, cols)


TABLE = pd.DataFrame({
    "zip": ["130", "130", "130", "148", "148", "148", "148"],
    "age": ["2*", "2*", "2*", "4*", "4*", "4*", "4*"],
    "disease": ["flu", "flu", "cancer", "flu", "hiv", "cancer", "cancer"],
    "salary": ["3", "4", "5", "6", "11", "8", "4"],
})


def test_k_distinct_entropy_l():
    ids, n = classes(TABLE, ["zip", "age"])
    s = SensitiveColumn.encode("disease", TABLE["disease"])
    m = measure(ids, n, [s])
    assert m.k == 3
    assert m.l_distinct == 2  # class 1: flu, cancer
    # class 1 entropy: -(2/3 ln 2/3 + 1/3 ln 1/3); exp of it
    h1 = -(2 / 3 * np.log(2 / 3) + 1 / 3 * np.log(1 / 3))
    assert entropy_l(ids, n, s).min() == pytest.approx(np.exp(h1))
    assert sorted(distinct_l(ids, n, s).tolist()) == [2, 3]


def test_recursive_cl():
    ids, n = classes(TABLE, ["zip", "age"])
    s = SensitiveColumn.encode("disease", TABLE["disease"])
    # class 2 counts (desc): cancer 2, flu 1, hiv 1. l=2: r1=2 < c*(1+1) iff c > 1
    ok = recursive_cl_ok(ids, n, s, c=1.5, l=2)
    ok_strict = recursive_cl_ok(ids, n, s, c=1.0, l=2)
    cls2 = ids[3]
    assert ok[cls2] and not ok_strict[cls2]
    # class 1: flu 2, cancer 1: r1=2 < c*1 needs c > 2
    cls1 = ids[0]
    assert not ok[cls1]
    assert recursive_cl_ok(ids, n, s, c=2.5, l=2)[cls1]
    # fewer than l distinct values never passes
    assert not recursive_cl_ok(ids, n, s, c=100, l=3)[cls1]


def test_t_closeness_equal_distance():
    ids, n = classes(TABLE, ["zip", "age"])
    s = SensitiveColumn.encode("disease", TABLE["disease"])
    # overall: cancer 3/7, flu 3/7, hiv 1/7. class 1: cancer 1/3, flu 2/3, hiv 0.
    d = t_distance(ids, n, s, "equal")
    expected1 = 0.5 * (abs(1 / 3 - 3 / 7) + abs(2 / 3 - 3 / 7) + 1 / 7)
    assert d[ids[0]] == pytest.approx(expected1)


def test_t_closeness_ordered_distance():
    # Li et al.'s salary example: overall {3..11}k, class {3,4,5}: distance 0.375
    df = pd.DataFrame({"q": ["a"] * 3 + ["b"] * 6, "salary": ["3", "4", "5", "6", "11", "8", "7", "9", "10"]})
    ids, n = classes(df, ["q"])
    s = SensitiveColumn.encode("salary", df["salary"])
    d = t_distance(ids, n, s, "ordered")
    assert d[ids[0]] == pytest.approx(0.375)


def test_constraints_combine():
    ids, n = classes(TABLE, ["zip", "age"])
    sizes = np.bincount(ids)
    s = SensitiveColumn.encode("disease", TABLE["disease"])
    assert classes_ok(ids, n, sizes, Constraints(k=3), [s]).all()
    assert not classes_ok(ids, n, sizes, Constraints(k=4), [s]).all()
    ok = classes_ok(ids, n, sizes, Constraints(k=2, l_kind="distinct", l=3), [s])
    assert ok.tolist().count(True) == 1


def test_prosecutor_and_journalist():
    sizes = np.array([1, 2, 3, 4])
    r = prosecutor(sizes, threshold=0.4)
    assert r["prosecutor_max"] == 1.0
    assert r["prosecutor_avg"] == pytest.approx(4 / 10)
    assert r["sample_uniqueness"] == pytest.approx(1 / 10)
    assert r["records_above_threshold"] == pytest.approx(3 / 10)  # classes of size 1 and 2
    sample = pd.DataFrame({"a": ["x", "y", "y"]})
    population = pd.DataFrame({"a": ["x", "x", "y", "y", "y", "y"]})
    j = journalist(row_keys(sample, ["a"]), row_keys(population, ["a"]), threshold=0.3)
    assert j["journalist_max"] == pytest.approx(0.5)
    # max(classes / sum F, mean f/F) = max(2/6, (1/2 + 2/4)/3)
    assert j["journalist_avg"] == pytest.approx(max(2 / 6, (0.5 + 0.5) / 3))
    assert j["journalist_records_above_threshold"] == pytest.approx(1 / 3)
