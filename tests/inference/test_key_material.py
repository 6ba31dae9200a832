"""Key material at the endpoint: identifier columns are never transformed when serving (so the endpoint
needs no secret for them), and a keyed feature's secret comes from the derived-secrets file of the
model's separate data source (PRIVML_KEY_PROVIDER=file), not from a key store."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from inference.handler import bind_key_provider, column_plan, model_fn, parse_payload, predict_fn, to_frame
from privml.crypto.key_file import derive_key_file
from privml.crypto.local_kms import LocalKms
from privml.errors import KeyUnavailable
from tests.inference.model_factory import LABEL, POLICY, raw_table

ALIAS = "alias/privml-test-endpoint"
KEYED_POLICY: dict[str, Any] = copy.deepcopy(POLICY)
KEYED_POLICY["columns"]["email"] = {"role": "identifier", "action": "encrypt", "key": "tok"}
KEYED_POLICY["columns"]["ssn"] = {"role": "identifier", "action": "tokenize", "key": "tok"}
KEYED_POLICY["columns"]["education"] = {"role": "feature", "action": "pseudonymize", "key": "tok",
                                        "params": {"kind": "generic"}}


class CountingProvider:
    """Delegates to a provider and records the purposes asked for."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.asked = inner, []

    def resolve(self, ref: str) -> str:
        return self.inner.resolve(ref)

    def derive_secret(self, key_id: str, purpose: str, length: int = 32) -> bytes:
        self.asked.append(purpose)
        return self.inner.derive_secret(key_id, purpose, length)

    def generate_data_key(self, *a: Any, **k: Any) -> Any:
        return self.inner.generate_data_key(*a, **k)

    def decrypt_data_key(self, *a: Any, **k: Any) -> Any:
        return self.inner.decrypt_data_key(*a, **k)


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Any, Path]:
    """A model trained as the training job does (train_on_splits), with keyed identifiers and a keyed feature."""
    from privml.models.training import TrainingRequest, train_on_splits
    from privml.policy import parse_policy
    from privml.transformer import PrivacyTransformer

    ws = tmp_path_factory.mktemp("keyed-ws")
    kms = LocalKms.open(ws)
    kms.ensure_key(ALIAS)
    policy = parse_policy(KEYED_POLICY, source="test policy")
    raw = raw_table(800, seed=5)
    privacy = PrivacyTransformer.from_policy(policy).set_key_provider(kms)
    train = privacy.fit_transform(raw)
    train[LABEL] = raw.loc[train.index, LABEL]
    trained = train_on_splits(train, None, privacy, policy, TrainingRequest("logreg", 0.0, LABEL, 0))
    return trained.pipeline, policy, ws


def _frame(model: Any, rows: int = 20) -> Any:
    raw = raw_table(rows, seed=11).drop(columns=[LABEL])
    return to_frame(parse_payload(raw.to_csv(index=False), "text/csv", column_plan(model)))


def test_serving_never_transforms_identifier_columns_so_needs_no_secret_for_them(keyed: Any) -> None:
    model, _policy, ws = keyed
    counting = CountingProvider(LocalKms.open(ws))
    bind_key_provider(model, counting)
    predict_fn(_frame(model), model)  # a DataFrame: the pipeline path
    assert counting.asked == ["privml/pseudonymize/v1"]  # the keyed feature only; never encrypt or tokenize
    assert "email" not in model.steps[0][1].transform(_frame(model)).columns


def test_the_endpoint_reads_feature_secrets_from_the_model_data_source(
    keyed: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from privml.key_needs import secret_needs

    model, policy, ws = keyed
    bind_key_provider(model, LocalKms.open(ws))
    expected = predict_fn(_frame(model), model)
    # the serving file PrepareKeys writes: only the purposes of columns the model reads
    served = derive_key_file(LocalKms.open(ws), secret_needs(policy, served_only=True))
    source = tmp_path / "additional-model-data-sources" / "privml-keys" / "derived-secrets.json"
    source.parent.mkdir(parents=True)
    source.write_bytes(served)
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    from privml.models.persistence import save_model

    save_model(model, model_dir / "model.skops")
    # no key store anywhere the endpoint could read: the workspace is empty
    monkeypatch.setenv("PRIVML_WORKSPACE", str(tmp_path / "empty-ws"))
    monkeypatch.setenv("PRIVML_KEY_PROVIDER", "file")
    monkeypatch.setenv("PRIVML_KEY_FILE", str(source))
    loaded = model_fn(str(model_dir))
    got = predict_fn(_frame(loaded), loaded)
    assert got.labels == expected.labels
    assert not (tmp_path / "empty-ws" / "kms").exists()
    # a file lacking the feature's purpose is refused naming the key and the purpose
    identifiers_only = derive_key_file(LocalKms.open(ws), secret_needs(policy))
    import json

    document: Mapping[str, Any] = json.loads(identifiers_only)
    for entry in document["keys"].values():
        entry["secrets"].pop("privml/pseudonymize/v1")
    source.write_text(json.dumps(document))
    loaded = model_fn(str(model_dir))
    with pytest.raises(KeyUnavailable, match=r"alias/privml-test-endpoint.*privml/pseudonymize/v1"):
        predict_fn(_frame(loaded), loaded)


def test_an_endpoint_given_no_key_material_serves_a_model_without_keyed_features(
    fitted_model: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, model_workspace: Path
) -> None:
    from tests.inference.conftest import save_model_dir

    model_dir = save_model_dir(fitted_model, tmp_path / "model", model_workspace)
    monkeypatch.setenv("PRIVML_WORKSPACE", str(tmp_path / "empty-ws"))
    monkeypatch.setenv("PRIVML_KEY_PROVIDER", "none")
    loaded = model_fn(str(model_dir))
    expected = predict_fn(_frame(fitted_model), fitted_model)
    assert predict_fn(_frame(loaded), loaded).labels == expected.labels
