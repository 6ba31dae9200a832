"""The key-preparation path of the definition: how keyed techniques get their secrets with no network.

Network-isolated containers (every job, and the endpoint) cannot call KMS and get no credentials. So:

- PrepareKeys (processing/prepare_keys.py) is the one step that is NOT network-isolated. It runs in the
  config's VPC (whose only AWS service endpoint it can use is a KMS interface endpoint) under its own
  role, `key_preparation_role_arn`, the only principal allowed kms:GenerateMac (and kms:DescribeKey) on
  `kms.hmac`. It reads only the policy, never data, and writes two derived-secrets objects under
  `kms.secrets` (SSE-KMS), which only the execution role may decrypt:
    secrets/derived-secrets.json — every secret the policy needs; the Anonymize job's `keys` input
    serving/derived-secrets.json — only those of columns the model reads; the model's data source
- Anonymize reads its input with PRIVML_KEY_PROVIDER=file (privml.crypto.key_file).
- CreateModel gets serving/derived-secrets.json as an AdditionalModelDataSource (S3Object, no
  compression), which SageMaker places at /opt/ml/additional-model-data-sources/<ChannelName>/, never
  inside model.tar.gz; the handler reads it with the file provider.
- Train and Evaluate get PRIVML_KEY_PROVIDER=none: no key material.

Every step names its provider in its Environment: nothing relies on a default.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from privml.crypto.key_file import FILE_ENV
from privml.crypto.providers import PROVIDER_ENV

STEP = "PrepareKeys"
SCRIPT = Path("processing/prepare_keys.py")
SECRETS_FILE = "derived-secrets.json"  # = processing.prepare_keys.SECRETS_FILE
OUTPUTS = ("secrets", "serving")
PROC = "/opt/ml/processing"
ANONYMIZE_INPUT = "keys"
ANONYMIZE_KEY_DIR = f"{PROC}/input/keys"
SERVING_CHANNEL = "privml-keys"
SERVING_KEY_FILE = f"/opt/ml/additional-model-data-sources/{SERVING_CHANNEL}/{SECRETS_FILE}"


def env(provider: str, key_file: str | None = None, **extra: str) -> dict[str, str]:
    """A step's key-provider environment (names and paths only, never a secret)."""
    out = {PROVIDER_ENV: provider, **extra}
    if key_file is not None:
        out[FILE_ENV] = key_file
    return out


def prepare_keys_env(config: Any) -> dict[str, str]:
    # The region comes from the config (boto3 in the container reads AWS_DEFAULT_REGION).
    return env("aws", AWS_DEFAULT_REGION=config.region)


def anonymize_env(keyed: bool) -> dict[str, str]:
    return env("file", f"{ANONYMIZE_KEY_DIR}/{SECRETS_FILE}") if keyed else env("none")


def serving_env(keyed: bool) -> dict[str, str]:
    return env("file", SERVING_KEY_FILE) if keyed else env("none")


def prepare_keys_arguments(config: Any) -> list[str]:
    return ["--policy", f"{PROC}/input/policy/policy.yaml", "--output", f"{PROC}/output",
            "--hmac-key", str(config.kms.hmac)]


def serving_data_sources(uri: Any) -> list[dict[str, Any]]:
    """CreateModel's AdditionalModelDataSources for the serving secrets object at `uri`."""
    return [{"ChannelName": SERVING_CHANNEL,
             "S3DataSource": {"S3Uri": uri, "S3DataType": "S3Object", "CompressionType": "None"}}]


def refuse_keyed_policy_without_path(config: Any, policy_text: bytes, source: str = "policy") -> list[str]:
    """The key references the policy's keyed techniques use; a keyed policy with a config that has no
    key-preparation path is refused (PrivmlError, exit 2) naming the first missing config field."""
    import yaml

    from privml.errors import PrivmlError
    from privml.key_needs import secret_needs
    from privml.policy import parse_policy

    try:
        raw = yaml.safe_load(policy_text)
    except yaml.YAMLError:
        raise PrivmlError(f"{source}: not valid YAML") from None
    needs = secret_needs(parse_policy(raw, source=source))
    if needs and not config.key_preparation:
        missing = next(f for f, v in (("kms.hmac", config.kms.hmac), ("kms.secrets", config.kms.secrets),
                                      ("key_preparation_role_arn", config.key_preparation_role_arn)) if not v)
        raise PrivmlError(
            f"config: {missing}: the policy uses keyed techniques, whose secrets network-isolated jobs can only "
            "get from the key-preparation step; set kms.hmac (an HMAC_256 key), kms.secrets and "
            "key_preparation_role_arn")
    return sorted({n.reference for n in needs})
