from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import pytest

from privml.crypto.aws_kms import AwsKms
from privml.crypto.key_file import FileKeyProvider
from privml.crypto.keys import KeyProvider
from privml.crypto.local_kms import LocalKms
from privml.crypto.providers import NoKeys, default_key_provider
from privml.crypto.raw_aes import RawAesKeyring
from privml.errors import PrivmlError

_PROTOCOL_METHODS = ("generate_data_key", "decrypt_data_key", "derive_secret")


@pytest.mark.parametrize("provider_class", [LocalKms, AwsKms, RawAesKeyring, FileKeyProvider, NoKeys])
def test_every_provider_has_the_protocols_signatures(provider_class: type) -> None:
    # `isinstance` against the runtime-checkable Protocol only sees that the names exist; callers pass
    # `length=` and `context` by name, so a renamed parameter or a changed default would break them silently.
    for name in _PROTOCOL_METHODS:
        expected = inspect.signature(getattr(KeyProvider, name))
        actual = inspect.signature(getattr(provider_class, name))
        assert actual == expected, f"{provider_class.__name__}.{name}{actual} is not KeyProvider.{name}{expected}"


def test_local_by_default(workspace: Path) -> None:
    provider = default_key_provider()
    assert isinstance(provider, LocalKms) and provider.path.is_relative_to(workspace)


def test_aws_when_asked(aws: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRIVML_KEY_PROVIDER", "aws")
    provider = default_key_provider()
    assert isinstance(provider, AwsKms)
    arn = aws.client("kms").create_key()["KeyMetadata"]["Arn"]
    dk = provider.generate_data_key(arn, {"a": "b"})
    assert provider.decrypt_data_key(dk, {"a": "b"}) == dk.plaintext


def test_unknown_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRIVML_KEY_PROVIDER", "vault")
    with pytest.raises(PrivmlError, match="must be one of local, aws, file, none"):
        default_key_provider()
