"""Finding 7: with PRIVML_KEYSTORE_PASSPHRASE set, the endpoint's SigV4 secret and the TLS private keys
stayed unsealed. (What jobs receive in their environment is the key-preparation step's, tested there.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests

from inference.credentials import credentials_path, load_or_create_credentials
from inference.tls import ensure_tls_material
from privml.errors import KeyUnavailable

PASSPHRASE = "correct horse battery staple"


@pytest.fixture
def sealed_env(monkeypatch) -> None:
    monkeypatch.setenv("PRIVML_KEYSTORE_PASSPHRASE", PASSPHRASE)


def test_endpoint_secret_is_sealed(tmp_path: Path, sealed_env) -> None:
    creds = load_or_create_credentials(tmp_path)
    text = credentials_path(tmp_path).read_text()
    assert creds.secret_access_key not in text
    assert load_or_create_credentials(tmp_path) == creds


def test_sealed_secret_needs_the_passphrase(tmp_path: Path, sealed_env, monkeypatch) -> None:
    load_or_create_credentials(tmp_path)
    monkeypatch.delenv("PRIVML_KEYSTORE_PASSPHRASE")
    with pytest.raises(KeyUnavailable):
        load_or_create_credentials(tmp_path)
    monkeypatch.setenv("PRIVML_KEYSTORE_PASSPHRASE", "wrong")
    with pytest.raises(KeyUnavailable):
        load_or_create_credentials(tmp_path)


def test_plaintext_secret_is_sealed_once_a_passphrase_is_set(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("PRIVML_KEYSTORE_PASSPHRASE", raising=False)
    creds = load_or_create_credentials(tmp_path)
    assert creds.secret_access_key in credentials_path(tmp_path).read_text()
    monkeypatch.setenv("PRIVML_KEYSTORE_PASSPHRASE", PASSPHRASE)
    assert load_or_create_credentials(tmp_path) == creds
    assert creds.secret_access_key not in credentials_path(tmp_path).read_text()


def test_sealed_secret_refuses_tampering(tmp_path: Path, sealed_env) -> None:
    load_or_create_credentials(tmp_path)
    path = credentials_path(tmp_path)
    doc = json.loads(path.read_text())
    doc["purpose"] = "something-else"
    ciphertext = bytearray(doc["ciphertext"].encode())
    ciphertext[10] = ord("A") if ciphertext[10] != ord("A") else ord("B")
    doc["ciphertext"] = ciphertext.decode()
    path.write_text(json.dumps(doc))
    with pytest.raises(KeyUnavailable):
        load_or_create_credentials(tmp_path)


def test_tls_private_keys_are_sealed(tmp_path: Path, sealed_env) -> None:
    material = ensure_tls_material(tmp_path)
    for key in (material.keyfile, material.keyfile.with_name("ca.key")):
        assert key.read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----"), key


def test_plaintext_tls_keys_are_sealed_on_next_use(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("PRIVML_KEYSTORE_PASSPHRASE", raising=False)
    first = ensure_tls_material(tmp_path)
    ca = first.ca_bundle.read_bytes()
    monkeypatch.setenv("PRIVML_KEYSTORE_PASSPHRASE", PASSPHRASE)
    again = ensure_tls_material(tmp_path)
    assert again.ca_bundle.read_bytes() == ca  # clients keep their pinned CA
    assert again.keyfile.read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")


def test_endpoint_serves_with_sealed_material(tmp_path: Path, sealed_env, security_model) -> None:
    from inference.server import start_local_endpoint

    with start_local_endpoint(security_model, workspace=tmp_path) as handle:
        r = requests.get(f"{handle.url}/ping", verify=handle.ca_bundle, timeout=5)
    assert r.status_code == 200
    assert handle.credentials.secret_access_key not in credentials_path(tmp_path).read_text()
