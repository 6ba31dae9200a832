from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from privml.crypto.aws_kms import AwsKms
from privml.crypto.local_kms import LocalKms
from privml.crypto.providers import default_key_provider
from privml.errors import PrivmlError


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
