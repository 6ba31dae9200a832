"""PrepareKeys: derive the secrets the policy's keyed techniques need, for the jobs that cannot reach KMS.

The one pipeline step that calls KMS. It is not network-isolated: on AWS it runs in the VPC, whose only
route to an AWS service is a KMS interface endpoint (plus S3 for its inputs and outputs, which SageMaker
moves, not the job), under its own role — the only one allowed `kms:GenerateMac` on the HMAC key (and
`kms:DescribeKey` to resolve the policy's aliases). It reads no data, only the policy.

Calls it makes (for the IAM policy of the key-preparation role):
  - kms:DescribeKey   on each key the policy names (resolving alias/NAME to the key ARN)
  - kms:GenerateMac   on the same keys, MacAlgorithm HMAC_SHA_256 (privml.crypto.aws_kms.derive_secret)
SageMaker then writes its two outputs under the output key (`kms.secrets` of the config, SSE-KMS), which
needs kms:GenerateDataKey on that key for this role; only the execution role may kms:Decrypt it.

Outputs (SageMaker processing contract):
  <output>/secrets/derived-secrets.json  every secret the policy needs (→ the Anonymize job's input)
  <output>/serving/derived-secrets.json  only those of columns the served model reads (→ the model's
                                          additional data source; identifiers are never features)
Locally the executor runs it with the local KMS as its only key path and no network. On failure it leaves
no output; the job runner (privml/job_runner.py) writes the reason to /opt/ml/output/message and exits
non-zero.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

try:
    import job_runner  # the bundle ships it beside this script (pipelines/packaging.py)
except ModuleNotFoundError:  # run from a source checkout, or in an image that holds privml
    from privml import job_runner

SECRETS_FILE = "derived-secrets.json"


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = job_runner.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--policy", required=True, help="the policy YAML")
    p.add_argument("--output", required=True, help="directory: secrets/ and serving/ are written under it")
    p.add_argument("--hmac-key", required=True,
                   help="the config's kms.hmac: every key the policy names must be this key")
    return p.parse_args(argv)


def run(args: argparse.Namespace) -> dict[str, int]:
    from privml.crypto.key_file import derive_key_file
    from privml.crypto.providers import PROVIDER_ENV, key_provider, provider_choice
    from privml.errors import PrivmlError
    from privml.io import atomic_write_bytes
    from privml.key_needs import secret_needs
    from privml.policy import load_policy

    choice = provider_choice()
    if choice not in ("aws", "local"):
        raise PrivmlError(f"{PROVIDER_ENV}={choice}: the key-preparation step derives secrets through a KMS "
                          "(aws, or local in local mode)")
    policy = load_policy(args.policy)
    needs = secret_needs(policy)
    served = secret_needs(policy, served_only=True)
    provider = key_provider(choice)
    resolve = getattr(provider, "resolve", None)
    allowed = resolve(args.hmac_key) if resolve else args.hmac_key
    for name, ref in sorted(policy.keys.items()):
        if any(n.reference == ref for n in needs) and (resolve(ref) if resolve else ref) != allowed:
            raise PrivmlError(f"keys.{name}: the policy's keyed techniques must use the config's HMAC key "
                              "(kms.hmac); only that key may be used by the key-preparation role")
    documents = {"secrets": derive_key_file(provider, needs), "serving": derive_key_file(provider, served)}
    out = Path(args.output)
    for name, data in documents.items():
        atomic_write_bytes(out / name / SECRETS_FILE, data, mode=0o600)
    return {"secrets": len(needs), "serving": len(served)}


def _summary(counts: dict[str, int]) -> str:
    # counts only: which purposes, never a secret
    return f"{counts['secrets']} secret(s) for Anonymize, {counts['serving']} for the endpoint"


JOB = job_runner.Job("key preparation", "processing", _parse, run, _summary)
main = job_runner.entry_point(JOB, __file__)

if __name__ == "__main__":
    sys.exit(main())
