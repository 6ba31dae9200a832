import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from privml.errors import PrivmlError
from privml.transforms import Context, technique_class
from tests.conftest import ADULT


def gen(values, **params):
    technique = technique_class("generalize")(params)
    series = pd.Series(values, dtype=object)
    technique.state.update(technique.fit(series, Context("c")))
    return technique.apply(series, Context("c")).tolist()


def test_intervals_and_cuts():
    assert gen(["34", "40", None], width=10) == ["[30-40)", "[40-50)", None]
    assert gen(["5", "18", "70"], cuts=[18, 65]) == ["<18", "[18-65)", ">=65"]


def test_dates_and_prefixes():
    assert gen(["2021-03-14", "1999-12-31"], date="month") == ["2021-03", "1999-12"]
    assert gen(["2021-03-14"], date="year") == ["2021"]
    assert gen(["02139", "021"], prefix=3) == ["021**", "021"]


def test_non_numeric_value_names_the_row():
    with pytest.raises(PrivmlError, match=r"column 'c'.*rows 2"):
        gen(["1", "CANARY"], width=5)


def test_exactly_one_form_is_required():
    with pytest.raises(ValueError, match="exactly one"):
        technique_class("generalize")({"width": 5, "prefix": 2})


def test_arx_hierarchy_level_and_unseen_values():
    path = str(ADULT / "adult_hierarchy_marital-status.csv")
    out = gen(["Never-married", "Married-civ-spouse", "Unseen"], hierarchy=path, level=2)
    assert out[2] == "*"
    top = gen(["Never-married"], hierarchy=path, level=0)
    assert top == ["Never-married"]


numbers = st.lists(st.integers(-1000, 1000), min_size=2, max_size=30)


@given(numbers, st.integers(1, 50), st.integers(1, 5))
def test_intervals_are_monotone(values, width, factor):
    fine = gen([str(v) for v in values], width=width)
    coarse = gen([str(v) for v in values], width=width * factor)
    for i in range(len(values)):
        for j in range(len(values)):
            if fine[i] == fine[j]:
                assert coarse[i] == coarse[j]


@given(st.lists(st.text(alphabet="0123456789", min_size=5, max_size=5), min_size=2, max_size=20), st.integers(0, 5))
def test_prefixes_are_monotone(values, n):
    fine = gen(values, prefix=n)
    coarse = gen(values, prefix=max(0, n - 1))
    for i in range(len(values)):
        for j in range(len(values)):
            if fine[i] == fine[j]:
                assert coarse[i] == coarse[j]
