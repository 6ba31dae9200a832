"""Mondrian: k holds, NCP is low, new records are routed to the box their neighbours got, and categorical
axes are ordered by co-occurrence with the other quasi-identifiers (never the label)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from privml.anonymity.axes import MAX_PROFILE_LEVELS, cooccurrence_order, profile_codes
from privml.anonymity.engine import AnonymityEngine
from privml.anonymity.models import Constraints
from privml.anonymity.mondrian import mondrian, ncp
from privml.policy.engine_config import anonymity_config
from tests.anonymity.states import as_json

from .conftest import make_policy


def grid(n=400, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "age": rng.integers(18, 90, n).astype(str),
        "zip": rng.choice(["A", "B", "C", "D", "E"], n),
        "income": rng.normal(50, 10, n).round(2).astype(str),
    })


def test_partitions_respect_k_and_tree_routes_training_rows():
    rng = np.random.default_rng(1)
    x = np.column_stack([rng.integers(0, 100, 5000), rng.integers(0, 7, 5000), rng.normal(size=5000)])
    result = mondrian(x.astype(float), Constraints(k=10), [])
    sizes = np.bincount(result.partition_of_row)
    assert sizes.min() >= 10 and sizes.max() < 2 * 10 * 7 + 100
    assert (result.tree.route(x.astype(float)) == result.partition_of_row).all()
    assert 0 < ncp(result.low, result.high, sizes, x.max(0) - x.min(0)) < 0.2


def test_new_record_routed_to_same_box_after_state_roundtrip():
    df = grid()
    policy = make_policy({"age": None, "zip": None, "income": None}, {"algorithm": "mondrian", "k": 5})
    engine = AnonymityEngine(anonymity_config(policy))
    released = engine.fit_transform(df)
    assert engine.report()["transformation"]["algorithm"] == "mondrian"
    assert engine.report()["k"] >= 5
    restored = AnonymityEngine.from_state(as_json(engine.get_state()))
    for i in [0, 17, 123, 399]:
        one = restored.transform(df.iloc[[i]])
        assert one.iloc[0].to_dict() == released.iloc[i].to_dict()
    # a slightly different new record still lands in the box that holds its training twin
    twin = df.iloc[[5]].copy()
    age = int(twin.iloc[0]["age"])
    box = released.iloc[5]["age"]
    lo, _, hi = box.partition("-")
    if hi and int(lo) < age:
        twin.iloc[0, 0] = str(age - 1) if age - 1 >= int(lo) else str(age)
        assert restored.transform(twin).iloc[0]["age"] == box


def test_unseen_category_becomes_root():
    df = grid()
    policy = make_policy({"age": None, "zip": None}, {"algorithm": "mondrian", "k": 5})
    engine = AnonymityEngine(anonymity_config(policy))
    engine.fit(df)
    out = engine.transform(pd.DataFrame({"age": ["40"], "zip": ["never-seen"]}))
    assert out.loc[0, "zip"] == "*"
    assert out.loc[0, "age"] != "*"


def test_mondrian_with_l_diversity():
    df = grid(600)
    df["disease"] = np.random.default_rng(3).choice(["a", "b", "c"], len(df))
    policy = make_policy({"age": None, "zip": None}, {"algorithm": "mondrian", "k": 4,
                                                      "l_diversity": {"kind": "distinct", "l": 3}},
                         sensitive=("disease",))
    engine = AnonymityEngine(anonymity_config(policy))
    engine.fit(df)
    assert engine.report()["l"] >= 3 and engine.report()["k"] >= 4


def test_journalist_risk_with_population(tmp_path):
    df = grid(200)
    population = pd.concat([df, grid(600, seed=9)], ignore_index=True)
    path = tmp_path / "population.csv"
    population.to_csv(path, index=False)
    engine = AnonymityEngine(anonymity_config(make_policy({"age": None, "zip": None},
                                         {"algorithm": "mondrian", "k": 5, "population": str(path)})))
    engine.fit(df)
    risk = engine.report()["risk"]
    assert 0 < risk["journalist_max"] <= risk["prosecutor_max"]
    assert risk["journalist_avg"] <= risk["prosecutor_avg"] + 1e-12


def test_dates_are_an_ordered_axis():
    rng = np.random.default_rng(4)
    days = pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 365, 300), unit="D")
    df = pd.DataFrame({"visit": days.strftime("%Y-%m-%d"), "zip": rng.choice(["A", "B"], 300)})
    policy = make_policy({"visit": {"type": "date"}, "zip": None}, {"algorithm": "mondrian", "k": 5})
    engine = AnonymityEngine(anonymity_config(policy))
    out = engine.fit_transform(df)
    assert engine.report()["k"] >= 5
    lo, _, hi = out.iloc[0]["visit"].partition("..")
    assert lo <= df.iloc[0]["visit"] <= (hi or lo)


def test_categorical_axis_groups_categories_that_co_occur_alike():
    # a1/a2 live with the young and town X, b1/b2 with the old and town Y; first appearance interleaves
    # them, so a median cut in that order would put unlike categories together
    rng = np.random.default_rng(5)
    n = 800
    group_a = rng.random(n) < 0.5
    job = np.where(group_a, rng.choice(["a1", "a2"], n), rng.choice(["b1", "b2"], n))
    job[:4] = ["a1", "b1", "a2", "b2"]
    group_a[:4] = [True, False, True, False]
    df = pd.DataFrame({
        "job": job,
        "town": np.where(group_a, "X", "Y"),
        "age": np.where(group_a, rng.integers(18, 35, n), rng.integers(50, 80, n)).astype(str),
        "label": rng.choice(["yes", "no"], n),
    })
    policy = make_policy({"job": None, "town": None, "age": None}, {"algorithm": "mondrian", "k": 5})
    engine = AnonymityEngine(anonymity_config(policy))
    engine.fit(df)
    order = engine.axes_["job"]["categories"]
    assert sorted(order[:2]) in (["a1", "a2"], ["b1", "b2"]) and sorted(order) == ["a1", "a2", "b1", "b2"]
    assert engine.axes_["town"]["categories"] == ["X", "Y"]  # two categories: first appearance
    # label-free: neither the label column nor a shuffled label changes the axes
    relabelled = df.assign(label=rng.permutation(df["label"].to_numpy()))
    again = AnonymityEngine(anonymity_config(policy))
    again.fit(relabelled)
    assert again.axes_ == engine.axes_
    # the order is part of the fitted state and survives the round trip
    restored = AnonymityEngine.from_state(as_json(engine.get_state()))
    assert restored.axes_ == engine.axes_
    assert restored.transform(df).equals(engine.transform(df))


def test_cooccurrence_order_edge_cases():
    values = pd.Series(["c", "a", "b", "a"])
    assert cooccurrence_order(values, []) == ["c", "a", "b"]  # nothing to co-occur with
    assert cooccurrence_order(values, [np.zeros(4, dtype=np.int64)]) == ["c", "a", "b"]  # constant
    many = pd.Series([f"v{i % 200}" for i in range(2000)])
    other = profile_codes({"kind": "category"}, many)  # > MAX_PROFILE_LEVELS levels: pooled
    assert other.max() == MAX_PROFILE_LEVELS - 1
    assert sorted(cooccurrence_order(many, [other])) == sorted(set(many))


def test_hierarchy_keeps_its_leaf_order_and_labels(tmp_path):
    path = tmp_path / "h.csv"
    path.write_text("d;D;*\nb;B;*\nc;D;*\na;B;*\n")
    rng = np.random.default_rng(6)
    df = pd.DataFrame({"cat": rng.choice(list("abcd"), 300), "age": rng.integers(18, 90, 300).astype(str)})
    policy = make_policy({"cat": str(path), "age": None}, {"algorithm": "mondrian", "k": 5})
    engine = AnonymityEngine(anonymity_config(policy))
    out = engine.fit_transform(df)
    assert engine.axes_["cat"]["categories"] == ["d", "b", "c", "a"]
    assert set(out["cat"]) <= {"a", "b", "c", "d", "B", "D", "*"}


def test_cooccurrence_order_dense_and_sparse_counts_agree(monkeypatch):
    from privml.anonymity import axes

    rng = np.random.default_rng(7)
    values = pd.Series(rng.choice([f"c{i}" for i in range(30)], 3000))
    others = [rng.integers(0, 5, 3000) + (values.str[1:].astype(int).to_numpy() % 3), rng.integers(0, 9, 3000)]
    dense = cooccurrence_order(values, others)
    monkeypatch.setattr(axes, "DENSE_COUNT_CELLS", 0)
    assert cooccurrence_order(values, others) == dense
