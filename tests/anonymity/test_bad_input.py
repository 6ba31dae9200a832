"""Bad input: clear one-line errors naming columns and rows, never values; exit 2, nothing written."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pandas as pd
import pytest

from privml.anonymity.engine import AnonymityEngine
from privml.anonymity.hierarchy import Hierarchy, generalize_builtin
from privml.errors import CheckFailed, PrivmlError
from privml.policy.engine_config import anonymity_config

from .conftest import REPO, make_policy

SECRET = "Zanzibar-Secret-Town"


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def table():
    return pd.DataFrame({"city": ["Rome", "Oslo", "Rome", "Oslo", "Lima", "Lima"],
                         "age": ["30", "31", "32", "33", "34", "35"]})


def test_value_missing_from_hierarchy(tmp_path):
    h = write(tmp_path / "city.csv", "Rome;Europe;*\nOslo;Europe;*\nLima;America;*\n")
    df = table()
    df.loc[4, "city"] = SECRET
    engine = AnonymityEngine(anonymity_config(make_policy({"city": str(h)}, {"algorithm": "global_recoding", "k": 2})))
    with pytest.raises(PrivmlError) as err:
        engine.fit(df)
    msg = str(err.value)
    assert "city" in msg and "row 5" in msg and SECRET not in msg
    assert not isinstance(err.value, CheckFailed)


def test_uneven_hierarchy(tmp_path):
    h = write(tmp_path / "city.csv", "Rome;Europe;*\nOslo;*\nLima;America;*\n")
    engine = AnonymityEngine(anonymity_config(make_policy({"city": str(h)}, {"algorithm": "global_recoding", "k": 2})))
    with pytest.raises(PrivmlError) as err:
        engine.fit(table())
    msg = str(err.value)
    assert "city" in msg and "row 2" in msg and "Oslo" not in msg


def test_hierarchy_that_is_not_a_tree(tmp_path):
    h = write(tmp_path / "city.csv", "Rome;Europe;*\nOslo;Europe;Top\nLima;America;*\n")
    with pytest.raises(PrivmlError, match="city"):
        Hierarchy.from_csv("city", h)


def test_k_larger_than_table():
    engine = AnonymityEngine(anonymity_config(make_policy({"age": {"type": "interval", "width": 5, "levels": 2}},
                                         {"algorithm": "global_recoding", "k": 7})))
    with pytest.raises(PrivmlError, match="larger than the table") as err:
        engine.fit(table())
    assert not isinstance(err.value, CheckFailed)


def test_unreachable_target_is_check_failed(tmp_path):
    df = table()
    df["disease"] = ["flu"] * 6
    policy = make_policy({"city": None}, {"algorithm": "global_recoding", "k": 2,
                                          "l_diversity": {"kind": "distinct", "l": 2}}, sensitive=("disease",))
    with pytest.raises(CheckFailed, match="l-diversity"):
        AnonymityEngine(anonymity_config(policy)).fit(df)
    policy = make_policy({"city": None}, {"algorithm": "mondrian", "k": 2,
                                          "l_diversity": {"kind": "distinct", "l": 2}}, sensitive=("disease",))
    with pytest.raises(CheckFailed):
        AnonymityEngine(anonymity_config(policy)).fit(df)


def test_builtins():
    assert generalize_builtin({"type": "interval", "width": 10, "levels": 2}, "37", "age") == ["30-39", "20-39", "*"]
    assert generalize_builtin({"type": "date", "levels": ["month", "year", "decade"]}, "2021-03-04", "d") == [
        "2021-03", "2021", "2020s", "*"]
    assert generalize_builtin({"type": "prefix", "levels": 2}, "75011", "zip") == ["7501*", "750**", "*"]
    with pytest.raises(PrivmlError, match="age"):
        generalize_builtin({"type": "interval", "width": 10}, SECRET, "age")


def test_unseen_values_at_transform_become_root(tmp_path):
    h = write(tmp_path / "city.csv", "Rome;Europe;*\nOslo;Europe;*\nLima;America;*\n")
    policy = make_policy({"city": str(h), "age": {"type": "interval", "width": 10, "levels": 2}},
                         {"algorithm": "global_recoding", "k": 2, "metric": "loss"})
    engine = AnonymityEngine(anonymity_config(policy))
    engine.fit(table())
    out = engine.transform(pd.DataFrame({"city": [SECRET], "age": ["44"]}))
    assert out.loc[0, "city"] == "*"
    level = engine.levels_["age"]
    assert out.loc[0, "age"] == (["44", "40-49", "40-59", "*"][level] if level else "*")


def test_cli_bad_hierarchy_exit_2_nothing_written(tmp_path):
    h = write(tmp_path / "city.csv", "Rome;Europe;*\nOslo;*\nLima;America;*\n")
    data = tmp_path / "data.csv"
    table().to_csv(data, index=False)
    policy = write(tmp_path / "policy.yaml", f"""
columns:
  city: {{role: quasi_identifier, action: keep, hierarchy: {h}}}
  age: {{role: feature, action: keep}}
anonymity: {{algorithm: global_recoding, k: 2}}
""")
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "privml", "anonymize", str(data), "--policy", str(policy),
                           "-o", str(out)], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "city" in proc.stderr and "row 2" in proc.stderr
    assert not out.exists()


def test_max_risk_raises_k_and_index_is_preserved():
    df = pd.DataFrame({"age": [str(20 + i % 12) for i in range(60)]}, index=range(100, 160))
    policy = make_policy({"age": {"type": "interval", "width": 2, "levels": 3}},
                         {"algorithm": "global_recoding", "k": 2, "max_risk": 0.1, "max_suppression": 0.0})
    engine = AnonymityEngine(anonymity_config(policy))
    out = engine.fit_transform(df)
    report = engine.report()
    assert report["targets"]["k"] == 10
    assert report["risk"]["prosecutor_max"] <= 0.1 and report["k"] >= 10
    assert list(out.index) == list(df.index)


def test_an_infinite_value_under_an_interval_hierarchy_is_generalized_to_the_top_not_a_crash():
    policy = make_policy({"age": {"type": "interval", "width": 5, "levels": 2}}, {"algorithm": "global_recoding",
                                                                                   "k": 2, "max_suppression": 0.5})
    engine = AnonymityEngine(anonymity_config(policy))
    engine.fit(pd.DataFrame({"age": ["21", "22", "23", "41", "42", "43"]}))
    released = engine.transform(pd.DataFrame({"age": ["inf", "-inf"]}))["age"].tolist()
    assert released == ["*", "*"]  # no interval holds them: the hierarchy's top, as for a non-number
    assert engine.row_router()(["inf"]) == ["*"]
    with pytest.raises(PrivmlError, match="column age: interval hierarchy needs numbers"):
        AnonymityEngine(anonymity_config(policy)).fit(pd.DataFrame({"age": ["21", "inf", "23", "41"]}))


@pytest.mark.parametrize("algorithm", ["global_recoding", "mondrian"])
def test_a_value_missing_from_the_hierarchy_names_the_tables_row_not_its_position(tmp_path, algorithm):
    """The rows before the engine keep their index (rows left out by `missing: suppress` leave gaps):
    the error names the input table's data row, not the cell's position among the rows left."""
    h = write(tmp_path / "city.csv", "Rome;Europe;*\nOslo;Europe;*\nLima;America;*\n")
    df = pd.concat([table(), table()], ignore_index=True)
    df.loc[8, "city"] = SECRET
    kept = df.drop(index=[0, 1, 2])  # data rows 1-3 left out before the engine: row 9 is the 6th row left
    engine = AnonymityEngine(anonymity_config(make_policy({"city": str(h)}, {"algorithm": algorithm, "k": 2})))
    with pytest.raises(PrivmlError, match=r"column city: data row 9 has a value missing") as err:
        engine.fit(kept)
    assert SECRET not in str(err.value)


def test_a_value_that_is_not_a_number_names_the_tables_row(tmp_path):
    df = pd.concat([table(), table()], ignore_index=True)
    df.loc[7, "age"] = SECRET
    config = anonymity_config(make_policy({"age": None}, {"algorithm": "mondrian", "k": 2}))
    engine = AnonymityEngine(dataclasses.replace(config, dtypes={"age": "numeric"}))
    with pytest.raises(PrivmlError, match=r"column age: data row 8 is not a number") as err:
        engine.fit(df.drop(index=[0, 1]))
    assert SECRET not in str(err.value)


@pytest.mark.parametrize("algorithm", ["global_recoding", "mondrian"])
def test_streaming_names_the_table_row_of_a_value_missing_from_the_hierarchy(tmp_path, algorithm):
    """The streaming fit sees the value first in its histogram (one line per distinct tuple), which keeps
    the table row where each line first shows: the error names that row, not the line's number."""
    from privml.anonymity.streaming import fit_streaming

    h = write(tmp_path / "city.csv", "Rome;Europe;*\nOslo;Europe;*\nLima;America;*\n")
    df = pd.concat([table()] * 4, ignore_index=True)
    df.loc[[13, 20], "city"] = SECRET  # first in the third batch of six rows: table row 14
    config = anonymity_config(make_policy({"city": str(h)}, {"algorithm": algorithm, "k": 2}))

    def batches():
        return (df.iloc[start:start + 6] for start in range(0, len(df), 6))

    with pytest.raises(PrivmlError, match=r"column city: data row 14 has a value missing") as err:
        fit_streaming(config, batches)
    assert SECRET not in str(err.value)


def test_counted_lines_name_no_row_number(tmp_path):
    """Lines counted elsewhere (Spark's groupBy) stand for rows no one here knows: no number is named."""
    from privml.anonymity.histogram import TupleHistogram

    h = write(tmp_path / "city.csv", "Rome;Europe;*\nOslo;Europe;*\nLima;America;*\n")
    counted = pd.DataFrame({"city": ["Rome", SECRET, "Oslo"], "age": ["30", "31", "32"], "count": [5, 3, 4]})
    config = anonymity_config(make_policy({"city": str(h)}, {"algorithm": "global_recoding", "k": 2}))
    histogram = TupleHistogram.from_counts(counted, list(config.quasi_identifiers), list(config.sensitive))
    with pytest.raises(PrivmlError, match=r"column city: a data row has a value missing") as err:
        AnonymityEngine(config).fit_histogram(histogram)
    assert SECRET not in str(err.value)
