"""PrivacyTransformer: fit learns, transform applies, persistence holds no secret, sklearn composes it."""

from __future__ import annotations

import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from privml.crypto.local_kms import LocalKms
from privml.errors import PrivmlError
from privml.policy import parse_policy
from privml.transformer import PrivacyTransformer

POLICY = {
    "keys": {"tokens": "alias/test-tokens"},
    "columns": {
        "name": {"role": "identifier", "action": "pseudonymize", "key": "tokens"},
        "email": {"role": "identifier", "action": "tokenize", "key": "tokens"},
        "card": {"role": "identifier", "action": "encrypt", "key": "tokens"},
        "ssn": {"role": "identifier", "action": "drop"},
        "age": {"role": "quasi_identifier", "action": "generalize", "params": {"width": 10}},
        "city": {"role": "feature", "action": "keep"},
        "y": {"role": "label", "action": "keep"},
    },
}


def frame(n: int = 6) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "name": [f"Canary{i} Person" for i in range(n)],
            "email": [f"canary{i}@example.org" for i in range(n)],
            "card": [f"4111-0000-0000-{i:04d}" for i in range(n)],
            "ssn": [f"123-45-{i:04d}" for i in range(n)],
            "age": [str(20 + 7 * i) for i in range(n)],
            "city": ["Boston", "Austin"] * (n // 2),
            "y": ["0", "1"] * (n // 2),
        }
    )


@pytest.fixture
def fitted(workspace) -> PrivacyTransformer:
    LocalKms.open().ensure_key("alias/test-tokens")
    return PrivacyTransformer(policy=POLICY).fit(frame())


def test_transform_applies_each_action(fitted):
    out = fitted.transform(frame())
    assert list(out.columns) == ["name", "email", "card", "age", "city"]
    assert "ssn" not in out and "y" not in out
    assert out["email"].str.startswith("tok_").all()
    assert out["card"].str.startswith("enc_").all()
    assert out["age"].tolist()[:2] == ["[20-30)", "[20-30)"]
    raw = frame()
    for col in ("name", "email", "card"):
        assert not set(out[col]) & set(raw[col])


def test_get_feature_names_out_matches_transform(fitted):
    assert list(fitted.get_feature_names_out()) == list(fitted.transform(frame()).columns)


def test_params_are_plain_and_clone_works(fitted):
    assert fitted.get_params()["policy"] == POLICY
    assert clone(fitted).get_params()["policy"] == POLICY


def test_usable_as_first_step_of_a_pipeline(workspace):
    LocalKms.open().ensure_key("alias/test-tokens")
    pipe = Pipeline([("privacy", PrivacyTransformer(policy=POLICY)), ("count", FunctionTransformer(len))])
    assert pipe.fit_transform(frame()) == 6


def test_single_new_record_with_unseen_and_missing_values(fitted):
    new = frame(2).iloc[[0]].copy()
    new["city"] = "Nowhere"
    new["age"] = None
    new["email"] = None
    out = fitted.transform(new)
    assert len(out) == 1
    assert pd.isna(out["email"].iloc[0]) and pd.isna(out["age"].iloc[0])
    assert out["city"].iloc[0] == "Nowhere"


def test_missing_column_is_named(fitted):
    with pytest.raises(PrivmlError, match="missing from the table: email"):
        fitted.transform(frame().drop(columns=["email"]))


def test_label_and_dropped_columns_may_be_absent_at_inference(fitted):
    assert len(fitted.transform(frame().drop(columns=["y", "ssn"]))) == 6


def test_saved_transformer_holds_no_secret_and_round_trips(fitted, tmp_path):
    path = tmp_path / "t.skops"
    expected = fitted.transform(frame())
    fitted.save(path)
    blob = path.read_bytes()
    secret = fitted._secret(__import__("privml.transforms", fromlist=["x"]).technique_class("tokenize"), "tokens")
    assert secret not in blob
    assert b"canary" not in blob.lower()
    loaded = PrivacyTransformer.load(path)
    pd.testing.assert_frame_equal(loaded.transform(frame()), expected)


def test_load_refuses_untrusted_types(tmp_path):
    import skops.io as sio

    path = tmp_path / "evil.skops"
    path.write_bytes(sio.dumps({"t": FunctionTransformer(len)}))
    with pytest.raises(PrivmlError, match="untrusted types"):
        PrivacyTransformer.load(path)


def test_reidentify_recovers_encrypted_values(fitted):
    out = fitted.transform(frame())
    back = fitted.reidentify(out)
    assert back["card"].tolist() == frame()["card"].tolist()
    with pytest.raises(PrivmlError, match="not encrypted"):
        fitted.reidentify(out, ["email"])


def test_disabled_key_is_a_clear_error(fitted):
    kms = LocalKms.open()
    kms.disable("alias/test-tokens")
    fresh = PrivacyTransformer(policy=POLICY)
    with pytest.raises(PrivmlError):
        fresh.fit(frame())


def test_policy_errors_name_field():
    bad = {**POLICY, "columns": {**POLICY["columns"], "email": {"role": "identifier", "action": "tokenize"}}}
    with pytest.raises(PrivmlError, match=r"columns.email.key"):
        parse_policy(bad)
    bad = {"columns": {"a": {"role": "identifier", "action": "mask", "params": {"keep_last": -1}}}}
    with pytest.raises(PrivmlError, match=r"columns.a.params: keep_last"):
        parse_policy(bad)
    with pytest.raises(PrivmlError, match="never key material"):
        parse_policy({"keys": {"k": "c2VjcmV0c2VjcmV0"}, "columns": {}})


def test_saving_keeps_the_live_object_usable(fitted, tmp_path):
    fitted.transform(frame())  # secrets now cached in memory
    fitted.save(tmp_path / "t.skops")
    assert hasattr(fitted, "_secrets") and hasattr(fitted, "_provider")
    assert len(fitted.transform(frame())) == 6
