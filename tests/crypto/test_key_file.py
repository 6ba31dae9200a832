"""The derived-secrets file and its provider: what isolated jobs and the endpoint read instead of KMS."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from privml.crypto.key_file import FileKeyProvider, SecretNeed, derive_key_file
from privml.crypto.local_kms import LocalKms
from privml.crypto.providers import NoKeys, default_key_provider
from privml.errors import KeyUnavailable, PrivmlError

NEEDS = [SecretNeed("alias/tokens", "privml/tokenize/v1", 32), SecretNeed("alias/tokens", "privml/aes-siv/v1", 64)]


def _kms(workspace: Path) -> LocalKms:
    kms = LocalKms.open(workspace)
    kms.ensure_key("alias/tokens")
    return kms


def test_file_gives_exactly_what_the_kms_derives(workspace: Path) -> None:
    kms = _kms(workspace)
    provider = FileKeyProvider.from_bytes(derive_key_file(kms, NEEDS))
    key_id = provider.resolve("alias/tokens")
    assert key_id == kms.resolve("alias/tokens")
    for need in NEEDS:
        assert provider.derive_secret(key_id, need.purpose, need.length) == kms.derive_secret(
            key_id, need.purpose, need.length)
    assert provider.purposes() == {key_id: ["privml/aes-siv/v1", "privml/tokenize/v1"]}


def test_missing_purpose_is_refused_naming_alias_and_purpose_never_a_secret(workspace: Path) -> None:
    kms = _kms(workspace)
    data = derive_key_file(kms, NEEDS[:1])
    provider = FileKeyProvider.from_bytes(data, "keys.json")
    secret = provider.derive_secret(provider.resolve("alias/tokens"), "privml/tokenize/v1")
    with pytest.raises(KeyUnavailable) as caught:
        provider.derive_secret(provider.resolve("alias/tokens"), "privml/pseudonymize/v1")
    message = str(caught.value)
    assert "alias/tokens" in message and "privml/pseudonymize/v1" in message
    for text in (message, repr(provider)):
        assert secret.hex() not in text and base64.b64encode(secret).decode() not in text
    with pytest.raises(KeyUnavailable, match="alias/other"):
        provider.resolve("alias/other")
    with pytest.raises(KeyUnavailable, match="bytes"):
        provider.derive_secret(provider.resolve("alias/tokens"), "privml/tokenize/v1", 64)


def test_the_file_cannot_make_or_open_data_keys(workspace: Path) -> None:
    provider = FileKeyProvider.from_bytes(derive_key_file(_kms(workspace), NEEDS))
    with pytest.raises(KeyUnavailable, match="derived secrets only"):
        provider.generate_data_key(provider.resolve("alias/tokens"), {})


@pytest.mark.parametrize("document", [{}, {"format": "other"}, {"format": "privml-derived-secrets/v1"},
                                      {"format": "privml-derived-secrets/v1",
                                       "keys": {"k": {"secrets": {"p": {"length": 32, "value": "!!"}}}}},
                                      {"format": "privml-derived-secrets/v1",
                                       "keys": {"k": {"secrets": {"p": {"length": 16, "value": "AAAA"}}}}}])
def test_malformed_files_are_refused(document: dict[str, Any]) -> None:
    with pytest.raises(KeyUnavailable):
        FileKeyProvider(document)


def test_provider_from_environment(workspace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "keys.json"
    path.write_bytes(derive_key_file(_kms(workspace), NEEDS))
    monkeypatch.setenv("PRIVML_KEY_PROVIDER", "file")
    monkeypatch.delenv("PRIVML_KEY_FILE", raising=False)
    with pytest.raises(KeyUnavailable, match="PRIVML_KEY_FILE"):
        default_key_provider()
    monkeypatch.setenv("PRIVML_KEY_FILE", str(tmp_path / "absent.json"))
    with pytest.raises(KeyUnavailable, match="missing"):
        default_key_provider()
    monkeypatch.setenv("PRIVML_KEY_FILE", str(path))
    assert isinstance(default_key_provider(), FileKeyProvider)
    monkeypatch.setenv("PRIVML_KEY_PROVIDER", "none")
    provider = default_key_provider()
    assert isinstance(provider, NoKeys)
    with pytest.raises(KeyUnavailable, match="no key material"):
        provider.derive_secret("alias/tokens", "privml/tokenize/v1")


def test_two_lengths_for_one_purpose_are_refused(workspace: Path) -> None:
    with pytest.raises(PrivmlError, match="two lengths"):
        derive_key_file(_kms(workspace), [NEEDS[0], SecretNeed("alias/tokens", "privml/tokenize/v1", 64)])


def test_the_file_module_imports_no_service() -> None:
    import ast

    source = Path(__file__).resolve().parents[2] / "privml" / "crypto" / "key_file.py"
    tree = ast.parse(source.read_text())
    modules = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    modules |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert modules <= {"__future__", "base64", "binascii", "json", "collections.abc", "dataclasses", "pathlib",
                       "typing", "privml.crypto.keys", "privml.errors"}, modules
