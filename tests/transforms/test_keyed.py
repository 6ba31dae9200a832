import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from privml.errors import IntegrityError
from privml.transforms import Context, technique_class
from privml.transforms.tokenize import collision_bound

values_st = st.lists(st.text(min_size=1, max_size=30), min_size=1, max_size=30)


def apply(action, values, secret, **params):
    technique = technique_class(action)(params)
    return technique.apply(pd.Series(values, dtype=object), Context("c", secret=secret)).tolist()


def secret_for(keys, key, action):
    cls = technique_class(action)
    return keys.derive_secret(key, cls.purpose, cls.secret_length)


@pytest.mark.parametrize("action", ["tokenize", "encrypt", "pseudonymize"])
@settings(max_examples=40, deadline=None)
@given(values=values_st)
def test_deterministic_and_key_separated(keys, action, values):
    a = secret_for(keys, "a", action)
    b = secret_for(keys, "b", action)
    first, again = apply(action, values, a), apply(action, values, a)
    assert first == again  # same input + same key → same output
    assert all(out != raw for out, raw in zip(first, values, strict=True))
    # equal inputs map to equal outputs (joins survive)
    for i, vi in enumerate(values):
        for j, vj in enumerate(values):
            if vi == vj:
                assert first[i] == first[j]
    if action != "pseudonymize":  # pseudonyms come from a finite name space
        other = apply(action, values, b)
        assert all(x != y for x, y in zip(first, other, strict=True))
        assert len(set(first)) == len(set(values))


def test_token_shape_and_collision_bound(keys):
    out = apply("tokenize", ["alice@example.com"], secret_for(keys, "a", "tokenize"), length=20, prefix="t_")
    assert out[0].startswith("t_") and len(out[0]) == 22
    assert collision_bound(10**6, 16) < 3e-8
    assert collision_bound(2, 8) == pytest.approx(1 / 2**32)


def test_missing_values_stay_missing(keys):
    assert pd.isna(apply("tokenize", [None, "x"], secret_for(keys, "a", "tokenize"))[0])


@settings(max_examples=50, deadline=None)
@given(values=values_st)
def test_encryption_round_trips(keys, values):
    secret = secret_for(keys, "a", "encrypt")
    technique = technique_class("encrypt")({})
    sealed = technique.apply(pd.Series(values, dtype=object), Context("c", secret=secret))
    assert technique.reverse(sealed, Context("c", secret=secret)).tolist() == values


def test_decrypting_under_another_key_fails_naming_the_row(keys):
    technique = technique_class("encrypt")({})
    sealed = technique.apply(pd.Series(["CANARY-secret"]), Context("c", secret=secret_for(keys, "a", "encrypt")))
    with pytest.raises(IntegrityError) as err:
        technique.reverse(sealed, Context("c", secret=secret_for(keys, "b", "encrypt")))
    assert "row 1" in str(err.value) and "CANARY" not in str(err.value)


def test_pseudonyms_look_like_their_kind(keys):
    secret = secret_for(keys, "a", "pseudonymize")
    name = apply("pseudonymize", ["Jane Roe"], secret, kind="name")[0]
    email = apply("pseudonymize", ["jane@roe.org"], secret, kind="email")[0]
    phone = apply("pseudonymize", ["+1 617 555 1234"], secret, kind="phone")[0]
    assert len(name.split()) == 2 and name.istitle()
    assert email.endswith("@example.com")
    assert phone.startswith("+1-555-")


def test_date_shift_is_consistent_per_subject(keys):
    cls = technique_class("date_shift")
    secret = keys.derive_secret("a", cls.purpose)
    frame = pd.DataFrame({"pid": ["p1", "p1", "p2"], "d": ["2020-01-01", "2020-01-11", "2020-01-01"]})
    out = cls({"max_days": 30, "subject_column": "pid"}).apply(frame["d"], Context("d", secret=secret, frame=frame))
    shifted = pd.to_datetime(out)
    assert (shifted[1] - shifted[0]).days == 10  # intervals within a subject survive
    for raw, new in zip(pd.to_datetime(frame["d"]), shifted, strict=True):
        assert abs((new - raw).days) <= 30


@settings(max_examples=30, deadline=None)
@given(st.lists(st.dates().map(str), min_size=1, max_size=20), st.integers(1, 400))
def test_date_shift_stays_within_bound(keys, dates, max_days):
    cls = technique_class("date_shift")
    secret = keys.derive_secret("a", cls.purpose)
    out = cls({"max_days": max_days}).apply(pd.Series(dates), Context("d", secret=secret))
    for raw, new in zip(pd.to_datetime(pd.Series(dates)), pd.to_datetime(pd.Series(out)), strict=True):
        assert abs((new - raw).days) <= max_days
