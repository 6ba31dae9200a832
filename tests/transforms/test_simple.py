import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from privml.errors import PrivmlError
from privml.transforms import Context, technique_class
from privml.transforms.base import parse_numbers

text = st.text(min_size=0, max_size=40)


def run(action: str, values: list, params: dict | None = None, secret: bytes | None = None) -> list:
    technique = technique_class(action)(params or {})
    return technique.apply(pd.Series(values, dtype=object), Context("c", secret=secret)).tolist()


def test_unknown_action_names_the_choices():
    with pytest.raises(LookupError, match=r"unknown action 'shred'.*tokenize"):
        technique_class("shred")


def test_keep_passes_values_through():
    assert run("keep", ["a", None, "b"]) == ["a", None, "b"]


def test_drop_is_marked_as_dropping():
    assert technique_class("drop").drops_column


def test_redact_replaces_values_and_keeps_missing():
    assert run("redact", ["secret", None]) == ["[REDACTED]", None]
    assert run("redact", ["x", None], {"replacement": "[SSN]", "keep_missing": False}) == ["[SSN]", "[SSN]"]


def test_parse_numbers_names_rows_not_values():
    with pytest.raises(PrivmlError) as err:
        parse_numbers(pd.Series(["1", "2", "CANARY-77", "4"]), "income")
    assert "row" in str(err.value) and "3" in str(err.value)
    assert "CANARY" not in str(err.value)


@given(st.lists(st.one_of(st.none(), text), max_size=20))
def test_redact_never_outputs_an_input_value(values):
    out = run("redact", values, {"replacement": "[R]"})
    assert all(v in (None, "[R]") for v in out)
