"""How the local KMS names its keys inside a message (a primitive: names, no keys).

A wrapped data key carries the raw AES keyring's provider id and key name; the local KMS writes namespace
`privml-local-kms` and name `local:kms:key/<id>:v<N>` (the material version that wrapped it). The local
KMS writes these names and the message format reads them back to name a message's master key
(`read_header`); both import them from here, so the format never needs the service.
"""

from __future__ import annotations

import re

NAMESPACE = "privml-local-kms"
ARN_PREFIX = "local:kms:"
WRAPPING_KEY_NAME = re.compile(r"^local:kms:key/([0-9a-f-]{36}):v(\d+)$")


def key_arn(key_id: str) -> str:
    return f"{ARN_PREFIX}key/{key_id}"


def wrapping_key_name(key_id: str, version: int) -> str:
    """The key name a data key wrapped by material `version` of key `key_id` carries."""
    return f"{key_arn(key_id)}:v{version}"


def master_key_id_of(wrapping_key_name: str) -> str:
    """`local:kms:key/<id>:vN` (the name in a wrapped data key) → `local:kms:key/<id>`."""
    match = WRAPPING_KEY_NAME.match(wrapping_key_name)
    return key_arn(match.group(1)) if match else wrapping_key_name
