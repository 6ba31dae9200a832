import string

import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from privml.transforms import Context, technique_class

SEPARATORS = set(" -_.@()/+,:#")


def mask(values, **params):
    technique = technique_class("mask")(params)
    as_object = technique.apply(pd.Series(values, dtype=object), Context("c")).tolist()
    as_arrow = technique.apply(pd.Series(values, dtype="str"), Context("c")).tolist()  # what read_table gives
    as_object, as_arrow = ([None if pd.isna(v) else v for v in out] for out in (as_object, as_arrow))
    assert as_arrow == as_object
    return as_object


def test_card_keeps_last_four_and_spacing():
    assert mask(["4111 1111 1111 1234"], keep_last=4) == ["**** **** **** 1234"]


def test_email_keeps_domain():
    assert mask(["john.doe@example.com"], keep_email_domain=True) == ["****.***@example.com"]


def test_short_value_is_masked_whole_rather_than_revealed():
    assert mask(["12"], keep_last=4) == ["**"]


def test_character_classes():
    assert mask(["Ab-12"], classes=True) == ["Xx-99"]


def test_missing_stays_missing():
    assert mask([None, "x"], keep_last=1) == [None, "*"]


printable = st.text(alphabet=string.ascii_letters + string.digits + " -.@()", max_size=30)


@given(st.lists(printable, min_size=1, max_size=10), st.integers(0, 4), st.integers(0, 4))
def test_format_is_preserved(values, first, last):
    out = mask(values, keep_first=first, keep_last=last)
    for raw, masked in zip(values, out, strict=True):
        assert len(masked) == len(raw)
        for a, b in zip(raw, masked, strict=True):
            if a in SEPARATORS:
                assert b == a  # separators stay where they are
            else:
                assert b in (a, "*")
        if len(raw) > first + last:
            assert masked[len(raw) - last :] == raw[len(raw) - last :]
            assert masked[:first] == raw[:first]
            hidden = raw[first : len(raw) - last]
            assert masked[first : len(raw) - last] == "".join(c if c in SEPARATORS else "*" for c in hidden)
        else:
            assert all(c in SEPARATORS or c == "*" for c in masked)


def test_non_ascii_values_take_the_same_rules():
    assert mask(["José-12", "ab-1"]) == ["****-**", "**-*"]
    assert mask(["José-12"], classes=True) == ["Xxxx-99"]
