"""Global recoding on the tuple histogram agrees with the in-memory engine on rows (Adult, ARX figures)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from privml.anonymity.engine import AnonymityEngine
from privml.anonymity.histogram import HistogramBuilder, TupleHistogram
from privml.errors import CheckFailed, PrivmlError
from privml.policy import parse_policy
from privml.policy.engine_config import anonymity_config
from tests.anonymity.states import as_json

from .conftest import ADULT_COLUMNS, adult_policy, make_policy

_EXACT = ("transformation", "rows_in", "rows_out", "suppressed_rows", "k", "class_sizes", "class_sizes_before",
          "risk", "risk_before", "targets", "algorithm")


def histogram_of(frame: pd.DataFrame, engine: AnonymityEngine, batch: int = 4096,
                 merge_lines: int = 5000) -> TupleHistogram:
    builder = HistogramBuilder(engine.quasi_identifiers, engine.sensitive, merge_lines=merge_lines)
    for start in range(0, len(frame), batch):
        builder.add(frame.iloc[start:start + batch])
    return builder.result()


def assert_same_fit(rows: AnonymityEngine, hist: AnonymityEngine) -> None:
    a, b = rows.report(), hist.report()
    for key in _EXACT:
        assert a.get(key) == b.get(key), key
    assert a["utility"]["information_loss"] == pytest.approx(b["utility"]["information_loss"], rel=1e-12)
    assert a["utility"]["lattice_nodes_checked"] == b["utility"]["lattice_nodes_checked"]
    assert a["utility"]["classes"] == b["utility"]["classes"]
    for key in ("per_column", "ncp_per_column"):
        assert a["utility"][key] == pytest.approx(b["utility"][key], rel=1e-12)
    assert rows.levels_ == hist.levels_
    assert {c: h.get_state() for c, h in rows.hierarchies_.items()} == \
        {c: h.get_state() for c, h in hist.hierarchies_.items()}


@pytest.mark.parametrize("k", [5, 10, 50, 100])
@pytest.mark.parametrize("metric", ["entropy", "loss"])
def test_histogram_search_matches_rows_on_adult(adult, k, metric):
    config = anonymity_config(adult_policy(k=k, max_suppression=0.04, metric=metric))
    rows, hist = AnonymityEngine(config), AnonymityEngine(config)
    rows.fit(adult)
    histogram = histogram_of(adult, hist)
    assert len(histogram) == 19502 and histogram.n_rows == len(adult)  # ARX's distinct tuples of Adult
    suppressed = hist.fit_histogram(histogram)
    assert_same_fit(rows, hist)
    assert int(histogram.counts[suppressed].sum()) == rows.report()["suppressed_rows"]


def test_histogram_reproduces_arx_figures(adult):
    # the ARX reference (tests/anonymity/test_oracle.py): k=5, 4% suppression, entropy
    engine = AnonymityEngine(anonymity_config(adult_policy(k=5, max_suppression=0.04, metric="entropy")))
    engine.fit_histogram(histogram_of(adult, engine))
    report = engine.report()
    assert [report["transformation"][c] for c in ADULT_COLUMNS] == [1, 0, 1, 1, 3, 2, 2, 0, 1]
    assert abs(report["utility"]["information_loss"] - 255559.85455731067) <= 1e-9 * 255559.85455731067
    assert abs(report["risk_before"]["sample_uniqueness"] - 0.5142895033485844) <= 1e-9


@pytest.mark.parametrize("l_diversity,t_closeness", [
    ({"kind": "distinct", "l": 2}, None),
    ({"kind": "entropy", "l": 1.5}, None),
    ({"kind": "recursive", "l": 2, "c": 3}, None),
    (None, {"t": 0.3, "distance": "equal"}),
    (None, {"t": 0.3, "distance": "ordered"}),
])
def test_histogram_matches_rows_with_sensitive_models(l_diversity, t_closeness):
    rng = np.random.default_rng(7)
    n = 6000
    frame = pd.DataFrame({
        "zip": rng.choice([f"{z:05d}" for z in range(10000, 10040)], n),
        "age": rng.integers(18, 90, n).astype(str),
        "sex": rng.choice(["F", "M"], n),
        "disease": rng.choice(["a", "b", "c", "d", "e"], n, p=[0.4, 0.3, 0.15, 0.1, 0.05]),
        "income": rng.integers(0, 12, n).astype(str),
    })
    anonymity = {"algorithm": "global_recoding", "k": 5, "max_suppression": 0.05, "metric": "loss"}
    if l_diversity:
        anonymity["l_diversity"] = l_diversity
    if t_closeness:
        anonymity["t_closeness"] = t_closeness
    policy = make_policy({"zip": {"type": "prefix"}, "age": {"type": "interval", "widths": [5, 10, 20]},
                          "sex": None}, anonymity, sensitive=("disease", "income"))
    config = anonymity_config(policy)
    rows, hist = AnonymityEngine(config), AnonymityEngine(config)
    try:
        rows.fit(frame)
    except CheckFailed:
        with pytest.raises(CheckFailed):
            hist.fit_histogram(histogram_of(frame, hist, batch=700, merge_lines=300))
        return
    hist.fit_histogram(histogram_of(frame, hist, batch=700, merge_lines=300))
    assert_same_fit(rows, hist)
    for key in ("l", "l_entropy", "t"):
        assert rows.report().get(key) == pytest.approx(hist.report().get(key), rel=1e-12)


def test_from_counts_sums_partial_aggregates(adult):
    engine = AnonymityEngine(anonymity_config(adult_policy(k=10, max_suppression=0.04)))
    whole = histogram_of(adult, engine)
    # two partial aggregates of halves of the table, as two Spark partitions would give them
    parts = [adult.iloc[: len(adult) // 2], adult.iloc[len(adult) // 2:]]
    counted = pd.concat([p.groupby(ADULT_COLUMNS, dropna=False).size().rename("count").reset_index()
                         for p in parts], ignore_index=True)
    from_counts = TupleHistogram.from_counts(counted, ADULT_COLUMNS, [])
    assert len(from_counts) == len(whole) and from_counts.n_rows == whole.n_rows
    reference = AnonymityEngine(engine.config)
    reference.fit_histogram(whole)
    engine.fit_histogram(from_counts)
    assert engine.levels_ == reference.levels_


def test_histogram_refuses_missing_cells_unless_they_are_values():
    policy = make_policy({"a": None, "b": None}, {"algorithm": "global_recoding", "k": 2, "missing": "error"})
    engine = AnonymityEngine(anonymity_config(policy))
    frame = pd.DataFrame({"a": ["1", None, "3", "4"], "b": ["x", "y", "x", "y"]})
    with pytest.raises(PrivmlError, match="column a: data row 2 is empty"):
        engine.fit_histogram(histogram_of(frame, engine))


@pytest.mark.parametrize("missing_share", [0.0, 0.04])
@pytest.mark.parametrize("targets", [
    {"k": 5},
    {"k": 8, "l_diversity": {"kind": "distinct", "l": 2}},
    {"k": 4, "l_diversity": {"kind": "entropy", "l": 1.8}},
    {"k": 5, "t_closeness": {"t": 0.2, "distance": "ordered"}},
])
def test_mondrian_on_the_histogram_makes_the_cuts_of_the_rows(targets, missing_share):
    # numbers (age, zip), a category ordered by co-occurrence (edu), dates with a hierarchy (when)
    rng = np.random.default_rng(5)
    n = 8000  # about 3000 distinct lines: most lines stand for several rows
    frame = pd.DataFrame({
        "age": rng.integers(20, 32, n).astype(str), "zip": rng.choice(["101", "102", "205", "300", "301"], n),
        "edu": rng.choice(list("abcde"), n, p=[0.4, 0.3, 0.15, 0.1, 0.05]), "dx": rng.choice(["a", "b", "c", "d"], n),
        "when": pd.to_datetime(rng.choice([0, 20, 45, 400], n), unit="D").strftime("%Y-%m-%d"),
    }).astype("str")
    if missing_share:
        frame.loc[rng.random(n) < missing_share, "zip"] = None
        frame.loc[rng.random(n) < missing_share, "age"] = None
    columns = {c: {"role": "quasi_identifier", "action": "keep"} for c in ("age", "zip", "edu")}
    columns["when"] = {"role": "quasi_identifier", "action": "keep",
                       "hierarchy": {"type": "date", "levels": ["month", "year"]}}
    columns["dx"] = {"role": "sensitive", "action": "keep"}
    config = anonymity_config(parse_policy({"columns": columns,
                                            "anonymity": {"algorithm": "mondrian", "missing": "value", **targets}}))
    rows, hist = AnonymityEngine(config), AnonymityEngine(config)
    rows.fit(frame)
    histogram = histogram_of(frame, hist, batch=500, merge_lines=700)
    assert not hist.fit_histogram(histogram).any() and len(histogram) < n / 2
    a, b = as_json(rows.get_state()), as_json(hist.get_state())
    assert rows.suppressed_labels() == [] and hist.suppressed_labels() == []
    assert a == b  # axes, tree, labels and report, bit for bit
    pd.testing.assert_frame_equal(rows.transform(frame), hist.transform(frame))


def test_histogram_matches_rows_with_missing_cells_as_values():
    rng = np.random.default_rng(3)
    n = 3000
    frame = pd.DataFrame({"a": rng.integers(0, 30, n).astype(str), "b": rng.choice(["x", "y", "z"], n)})
    frame.loc[rng.random(n) < 0.05, "a"] = None
    policy = make_policy({"a": {"type": "interval", "widths": [5, 10]}, "b": None},
                         {"algorithm": "global_recoding", "k": 4, "max_suppression": 0.02, "missing": "value"})
    config = anonymity_config(policy)
    rows, hist = AnonymityEngine(config), AnonymityEngine(config)
    rows.fit(frame)
    hist.fit_histogram(histogram_of(frame, hist, batch=500))
    assert_same_fit(rows, hist)


def test_risk_before_counts_a_missing_cell_as_its_own_value():
    # under pandas 3 a missing cell's factorize code (-1) used to collide with another tuple's key
    from privml.anonymity.risk import class_ids_of

    frame = pd.DataFrame({"a": ["1", "2", None], "b": [None, "y", "x"]}, dtype="str")
    _, n_classes = class_ids_of(frame, ["a", "b"])
    assert n_classes == len(frame.groupby(["a", "b"], dropna=False).size()) == 3
