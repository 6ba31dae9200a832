"""Every registered technique's row form (`cell_function()`) against its column-wise `apply`, cell by cell,
for every parameter form: a technique or a parameter added without a form here fails
`test_every_technique_and_parameter_form_is_covered`, so none can skip the comparison."""

from __future__ import annotations

import types
import typing
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from privml.errors import PrivmlError
from privml.rowform import NotCompiled
from privml.transforms import Context, Technique, technique_class, technique_names

NUMBERS = [None, "37", "-4.25", "0", "120", "007", "123456789012345"]
DATES = [None, "2021-03-04", "1999-12-31", "2024-02-29"]
WORDS = [None, "", "75011", "Bachelors", "√ü", "a b", "*", "x" * 40]
ANY = NUMBERS + DATES + WORDS
HIERARCHY = "<hierarchy>"  # replaced by the path of HIERARCHY_ROWS written to disk
HIERARCHY_ROWS = "Bachelors;Degree;*\nMasters;Degree;*\nHS-grad;School;*\n"

# Per technique: its parameter forms, each with the cells its row form must serve itself (the plain case).
FORMS: dict[str, list[tuple[dict[str, Any], list[str | None]]]] = {
    "keep": [({}, ANY)],
    "drop": [({}, ANY)],
    "generalize": [
        ({"width": 10}, NUMBERS),
        ({"width": 0.1, "origin": 0.05}, NUMBERS),
        ({"width": 7, "origin": -3}, NUMBERS),
        ({"cuts": [18, 30.5, 65]}, NUMBERS),
        ({"date": "month"}, DATES),
        ({"date": "year"}, DATES),
        ({"prefix": 3}, WORDS),
        ({"prefix": 0}, WORDS),
        ({"hierarchy": HIERARCHY, "level": 1}, WORDS),
        ({"hierarchy": HIERARCHY, "level": 0}, WORDS),
    ],
    "redact": [({}, ANY), ({"replacement": "<x>", "keep_missing": False}, ANY)],
    "mask": [({}, WORDS), ({"keep_first": 1, "keep_last": 2, "keep_email_domain": True, "char": "#",
                           "classes": True}, WORDS)],
    "scrub": [({}, WORDS)],
    "tokenize": [({}, WORDS), ({"length": 8, "prefix": "t_"}, WORDS)],
    "pseudonymize": [({"kind": kind}, WORDS) for kind in
                     ("name", "first_name", "last_name", "email", "phone", "generic")],
    "encrypt": [({}, WORDS), ({"prefix": "e_"}, WORDS)],
    "date_shift": [({}, DATES), ({"max_days": 5, "subject_column": "c", "format": "%d/%m/%Y"}, DATES)],
}
# The techniques that have a row form; the others must say so by returning None (keyed ones always).
ROW_FORMS = {"keep", "generalize", "redact"}

CASES = [(name, params, plain) for name in sorted(FORMS) for params, plain in FORMS[name]]
IDS = [f"{name}-{params}" for name, params, _ in CASES]

EDGE_CELLS = st.one_of(
    st.none(),
    st.from_regex(r"-?\d{1,4}(\.\d{1,3})?", fullmatch=True),
    st.from_regex(r"(19|20)\d\d-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])", fullmatch=True),
    st.sampled_from(["1e3", " 7", "7 ", "inf", "nan", "NaN", "-0", "+5", "2021-02-30", "2021-3-4", "21-03-04",
                     "2021-03", "abc", "Bachelors", "Unseen", "*", "√ü", "a\nb", "\n", "٣", "²", "", " ",
                     "1234567890123456", "123456789012345", "007", "0.1", "30.5", "65"]),
    st.text(max_size=8),
)

RAISES = object()  # the column-wise path reports an error for this cell


def _literal_values(annotation: Any) -> list[Any] | None:
    """The values a Literal (or bool) field allows, None for other fields."""
    if annotation is bool:
        return [True, False]
    if typing.get_origin(annotation) is typing.Literal:
        return list(typing.get_args(annotation))
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            values = _literal_values(arg)
            if values is not None:
                return values
    return None


def test_every_technique_and_parameter_form_is_covered() -> None:
    assert set(FORMS) == set(technique_names()), "list the forms of every registered technique here"
    for name, forms in FORMS.items():
        fields = technique_class(name).Params.model_fields
        for field_name, field in fields.items():
            assert any(field_name in params for params, _ in forms), f"{name}: no form sets `{field_name}`"
            allowed = _literal_values(field.annotation)
            if allowed is not None:
                used = {params.get(field_name, field.default) for params, _ in forms}
                assert set(allowed) <= used, f"{name}.{field_name}: no form for {set(allowed) - used}"


@pytest.fixture(scope="module")
def hierarchy_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("hierarchy") / "education.csv"
    path.write_text(HIERARCHY_ROWS, encoding="utf-8")
    return path


def _fitted(name: str, params: dict[str, Any], hierarchy_path: Path) -> Technique:
    """The technique fitted on the first training column it accepts (numbers, dates, or words)."""
    params = {k: str(hierarchy_path) if v == HIERARCHY else v for k, v in params.items()}
    technique = technique_class(name)(params, {})
    for train in (["31", "45.5", "18"], ["2020-01-31", "2021-06-15"], ["Bachelors", "Masters", "HS-grad"]):
        values = pd.Series(train, dtype="str")
        try:
            technique.state.update(technique.fit(values, Context("c", frame=values.to_frame("c"))))
            return technique
        except PrivmlError:
            continue
    raise AssertionError(f"{name} {params}: fits none of the training columns")


def _plain(value: Any) -> Any:
    return None if value is None or (not isinstance(value, str) and pd.isna(value)) else value


def _column_wise(technique: Technique, cells: list[str | None]) -> list[Any]:
    """Per cell, what `apply` gives for it within this column (the jobs read every column as str), or
    RAISES when `apply` reports an error for that cell alone."""
    values = pd.Series(cells, dtype="str")
    try:
        out = technique.apply(values, Context("c", frame=values.to_frame("c")))
    except PrivmlError:
        if len(cells) == 1:
            return [RAISES]
        return [_column_wise(technique, [cell])[0] for cell in cells]
    return [_plain(v) for v in out.tolist()]


def _compare(technique: Technique, cells: list[str | None]) -> list[bool]:
    """Check the row form against `apply` on `cells`; returns, per cell, whether it was handed back."""
    function = technique.cell_function()
    assert function is not None
    handed_back = []
    for cell, expected in zip(cells, _column_wise(technique, cells), strict=True):
        try:
            got = function(cell)
        except NotCompiled:
            handed_back.append(True)
            continue
        handed_back.append(False)
        assert expected is not RAISES, f"{cell!r}: the row form answers where the pipeline reports an error"
        assert got == expected, f"{cell!r}: row form {got!r}, apply {expected!r}"
    return handed_back


@pytest.mark.parametrize(("name", "params", "plain"), CASES, ids=IDS)
def test_row_form_exists_exactly_where_declared(name: str, params: dict[str, Any], plain: list[str | None],
                                               hierarchy_path: Path) -> None:
    technique = _fitted(name, params, hierarchy_path)
    function = technique.cell_function()
    assert (function is not None) == (name in ROW_FORMS)
    if technique.needs_key:
        assert function is None  # a keyed technique's secret stays with the column-wise path


@pytest.mark.parametrize(("name", "params", "plain"), [c for c in CASES if c[0] in ROW_FORMS],
                         ids=[i for i, c in zip(IDS, CASES, strict=True) if c[0] in ROW_FORMS])
def test_plain_cells_are_served_by_the_row_form(name: str, params: dict[str, Any], plain: list[str | None],
                                               hierarchy_path: Path) -> None:
    technique = _fitted(name, params, hierarchy_path)
    assert _compare(technique, plain) == [False] * len(plain)  # the plain case is never handed back
    for cell in plain:  # and alone, as a one-row request is
        assert _compare(technique, [cell]) == [False]


@pytest.mark.parametrize(("name", "params", "plain"), [c for c in CASES if c[0] in ROW_FORMS],
                         ids=[i for i, c in zip(IDS, CASES, strict=True) if c[0] in ROW_FORMS])
@settings(max_examples=120, deadline=None)
@given(cells=st.lists(EDGE_CELLS, min_size=1, max_size=6))
def test_row_form_matches_apply_or_hands_back(name: str, params: dict[str, Any], plain: list[str | None],
                                              hierarchy_path: Path, cells: list[str | None]) -> None:
    _compare(_fitted(name, params, hierarchy_path), cells)


def test_missing_cells_follow_apply() -> None:
    kept = technique_class("redact")({"keep_missing": True}).cell_function()
    hidden = technique_class("redact")({"keep_missing": False}).cell_function()
    assert kept is not None and hidden is not None
    assert (kept(None), hidden(None)) == (None, "[REDACTED]")


def test_hierarchy_generalization_maps_unseen_to_the_top() -> None:
    technique = technique_class("generalize")({"hierarchy": "h.csv", "level": 1}, {"mapping": {"a": "A"}})
    function = technique.cell_function()
    assert function is not None
    assert [function("a"), function("zz"), function(None)] == ["A", "*", None]


def test_a_generalize_form_without_a_row_form_hands_back_rather_than_failing() -> None:
    """An unfitted hierarchy form (no mapping) and a form the row form does not know both say NotCompiled,
    which makes the endpoint serve the model with the pipeline (a KeyError would stop it starting)."""
    generalize = technique_class("generalize")
    with pytest.raises(NotCompiled):
        generalize({"hierarchy": "h.csv", "level": 1}, {}).cell_function()
    unknown = generalize({"width": 10})
    unknown.params = type(unknown.params).model_construct(
        **{f: None for f in ("width", "cuts", "date", "prefix", "hierarchy", "level")})
    with pytest.raises(NotCompiled):
        unknown.cell_function()


def test_the_fitted_transformer_gives_each_columns_row_form(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from privml.anonymize import ensure_local_keys
    from privml.policy import parse_policy
    from privml.transformer import PrivacyTransformer

    monkeypatch.setenv("PRIVML_WORKSPACE", str(tmp_path))
    policy = parse_policy({
        "keys": {"tok": "alias/privml-test-rowform"},
        "columns": {
            "email": {"role": "identifier", "action": "tokenize", "key": "tok"},
            "name": {"role": "identifier", "action": "drop"},
            "age": {"role": "feature", "action": "generalize", "params": {"width": 10}},
            "city": {"role": "feature", "action": "keep"},
        },
    })
    ensure_local_keys(policy.keys.values())
    frame = pd.DataFrame({"email": ["a@x.org", "b@y.org"], "name": ["A", "B"], "age": ["31", "47"],
                          "city": ["Oslo", "Rome"]}, dtype="str")
    privacy = PrivacyTransformer.from_policy(policy).fit(frame)
    released = privacy.transform(frame)
    for column in ("age", "city"):
        function = privacy.cell_function(column)
        assert function is not None
        assert [function(v) for v in frame[column]] == released[column].tolist()
    assert privacy.cell_function("email") is None  # keyed
    assert privacy.cell_function("name") is None  # dropped: not in the output
    assert np.array_equal(released.columns, ["email", "age", "city"])
