"""Which rows a fit suppressed belongs to the fitting table, not to the model: the release drops them with
`suppressed_labels_` right after the fit, and a saved transformer (which ships with the model) holds none.
A caller's index can be an identifier (`set_index("ssn")`), so its labels must never reach the file."""

from __future__ import annotations

import zipfile

import pandas as pd
import pytest

from privml.transformer import PrivacyTransformer

POLICY = {
    "version": 1,
    "columns": {
        "age": {"role": "quasi_identifier", "action": "keep", "hierarchy": {"type": "interval", "widths": [5, 10]}},
        "sex": {"role": "quasi_identifier", "action": "keep"},
        "y": {"role": "label"},
    },
    "anonymity": {"algorithm": "global_recoding", "k": 2, "max_suppression": 0.05},
}


def table(index: pd.Index) -> pd.DataFrame:
    # 39 rows in classes of 2 or more at every level, and one 99-year-old the fit suppresses
    return pd.DataFrame({"age": [str(20 + i % 10) for i in range(39)] + ["99"], "sex": ["F", "M"] * 20,
                         "y": [0, 1] * 20}, index=index)


def saved_bytes(path) -> bytes:
    with zipfile.ZipFile(path) as archive:
        return b"".join(archive.read(name) for name in archive.namelist())


@pytest.mark.parametrize("suppressed_rows", ["generalize", "drop"])
def test_an_identifier_index_of_suppressed_rows_never_reaches_the_saved_transformer(tmp_path, suppressed_rows):
    ssns = pd.Index([f"SSN-{912_000_000 + i}" for i in range(40)], name="ssn")
    transformer = PrivacyTransformer(POLICY, key_provider="none", suppressed_rows=suppressed_rows)
    transformer.fit_transform(table(ssns))
    assert transformer.suppressed_labels_ == ["SSN-912000039"]  # the release still knows which rows to drop
    transformer.save(tmp_path / "transformer.skops")
    assert b"SSN-9120" not in saved_bytes(tmp_path / "transformer.skops")
    loaded = PrivacyTransformer.load(tmp_path / "transformer.skops")
    assert loaded.suppressed_labels_ == []
    assert "suppressed_index" not in (loaded.anonymity_state_ or {})
    assert transformer.suppressed_labels_ == ["SSN-912000039"]  # saving did not strip the live object


def test_a_saved_transformer_transforms_as_the_fitted_one(tmp_path):
    frame = table(pd.RangeIndex(40))
    transformer = PrivacyTransformer(POLICY, key_provider="none")
    transformer.fit(frame)
    transformer.save(tmp_path / "transformer.skops")
    loaded = PrivacyTransformer.load(tmp_path / "transformer.skops")
    pd.testing.assert_frame_equal(loaded.transform(frame), transformer.transform(frame))
