"""Technique errors name the row of the table, not the position in the Series they got: a streamed batch
carries the table's positions as its index (a batch may start at row 1,000,001), a split a subset of them.
Values never appear in the message."""

from __future__ import annotations

import pandas as pd
import pytest

from privml.errors import IntegrityError, PrivmlError
from privml.transforms import Context, technique_class
from privml.transforms.base import parse_dates, parse_numbers

BATCH_START = 1_000_000  # the batch's first row is the table's row 1,000,001


def batch(values: list[str | None], start: int = BATCH_START) -> pd.Series:
    """A column of a streamed batch: indexed by the rows' positions in the table (TableStream.batches)."""
    return pd.Series(values, index=pd.RangeIndex(start, start + len(values)), dtype=object)


def message(exc: pytest.ExceptionInfo[BaseException]) -> str:
    return str(exc.value)


def test_numbers_in_a_later_batch_name_the_tables_row():
    with pytest.raises(PrivmlError) as err:
        parse_numbers(batch(["1", "2", "CANARY-77", "4"]), "income")
    assert "(rows 1000003)" in message(err)
    assert "CANARY" not in message(err)


def test_dates_in_a_later_batch_name_the_tables_rows():
    values = batch(["2020-01-02", "CANARY-a", "03/04/2021", None, "CANARY-b"])
    with pytest.raises(PrivmlError) as err:
        parse_dates(values, "born")
    assert "(rows 1000002, 1000005)" in message(err)
    assert "CANARY" not in message(err)


def test_a_split_names_the_rows_it_took_from_the_table():
    subset = pd.Series(["7", "CANARY", "8", "CANARY"], index=[41, 6, 17, 99], dtype=object)
    with pytest.raises(PrivmlError) as err:
        parse_numbers(subset, "income")
    assert "(rows 7, 100)" in message(err)


def test_more_than_five_bad_rows_are_cut_short_by_table_row():
    with pytest.raises(PrivmlError) as err:
        parse_numbers(batch(["x"] * 7, start=10), "income")
    assert "7 value(s)" in message(err) and "(rows 11, 12, 13, 14, 15, ...)" in message(err)


def test_an_index_that_is_not_the_tables_positions_names_the_position():
    labelled = pd.Series(["1", "CANARY"], index=["alice", "bob"], dtype=object)
    with pytest.raises(PrivmlError) as err:
        parse_numbers(labelled, "income")
    assert "(rows 2)" in message(err)
    assert "bob" not in message(err) and "CANARY" not in message(err)


def test_a_named_integer_index_is_the_callers_column_and_never_named():
    frame = pd.DataFrame({"patient_id": [90417, 90533], "income": ["1", "CANARY"]}).set_index("patient_id")
    with pytest.raises(PrivmlError) as err:
        parse_numbers(frame["income"], "income")
    assert "(rows 2)" in message(err)
    assert "9053" not in message(err) and "CANARY" not in message(err)


def test_a_float_index_is_no_position():
    from privml.transforms.base import table_rows

    assert table_rows(pd.Series([1.0, 2.0], index=[0.5, 1.5]), [1]) == [2]


def test_generalize_fit_names_the_tables_row():
    technique = technique_class("generalize")({"width": 10})
    with pytest.raises(PrivmlError) as err:
        technique.fit(batch(["12", "30", "CANARY"]), Context("age"))
    assert "(rows 1000003)" in message(err)


def test_decrypting_a_later_batch_names_the_tables_row(keys):
    cls = technique_class("encrypt")
    mine, theirs = (keys.derive_secret(k, cls.purpose, cls.secret_length) for k in ("a", "b"))
    technique = cls({})
    good = technique.apply(batch(["CANARY-1", "CANARY-2"]), Context("c", secret=mine))
    other = technique.apply(batch(["CANARY-3"]), Context("c", secret=theirs))
    sealed = pd.Series([good.iloc[0], None, other.iloc[0], good.iloc[1]],
                       index=pd.RangeIndex(BATCH_START, BATCH_START + 4), dtype=object)
    with pytest.raises(IntegrityError) as err:
        technique.reverse(sealed, Context("c", secret=mine))
    assert "row 1000003 " in message(err)
    assert "CANARY" not in message(err) and str(other.iloc[0]) not in message(err)
