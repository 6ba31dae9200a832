"""The IAM documents a pipeline needs, generated from its definition and deploy plan.

Per role of the definition (the config's `role_arn` is "execution": it is the pipeline's role and, unless
a step names another, every job's; a step with its own role, like the key-preparation step, gets a role
named after it), its identity policy and its trust policy; the operator's policy (who runs
`privml run --aws`, `deploy --aws`, `invoke --aws` and tears the endpoint down) and an operator-role trust
policy; one key policy per configured KMS key; the bucket policy. No account, region or key is built in:
every ARN comes from the config.
"""

from __future__ import annotations

import re
from typing import Any

from pipelines.config import PipelineConfig
from pipelines.iam.operator import operator_statements
from pipelines.iam.policies import Arns, document, job_role_statements, pipeline_role_statements, vpc_statements
from pipelines.iam.resources import bucket_policy, key_policy, operator_trust_policy, sagemaker_trust_policy
from pipelines.iam.usage import Location, location_of_uri, read_usage

__all__ = ["EXECUTION", "OPERATOR", "iam_documents", "role_label", "split_documents", "write_documents"]

EXECUTION, OPERATOR = "execution", "operator"


def role_label(step_names: list[str]) -> str:
    """`["PrepareKeys"]` → `prepare-keys`: a role other than the config's is named after its steps."""
    return "-".join(re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower() for name in sorted(step_names))


def _purposes(config: PipelineConfig) -> list[str]:
    # Whatever purposes the config declares and sets (the key-preparation keys are optional).
    return [name for name in type(config.kms).model_fields if getattr(config.kms, name) is not None]


def iam_documents(
    config: PipelineConfig,
    definition: dict,
    *,
    uploads: dict[str, str | None] | None = None,
    operator_arn: str | None = None,
    endpoint_name: str | None = None,
) -> dict[str, Any]:
    """Every document, keyed: roles.<label>.{role_arn, policy, trust_policy}, operator.{policy,
    trust_policy}, key_policies.<purpose>, bucket_policy.

    `uploads` maps the s3:// URI of each object `run --aws` uploads to the key it is encrypted under (the
    build's artifacts); `operator_arn` names the operator's principal in the key policies (default: the
    account, so that the operator's IAM policy decides).
    """
    from pipelines.definition import endpoint_config_request
    from pipelines.deploy import plan_deployment

    arns = Arns(config.partition, config.region, config.account_id)
    upload_key = config.key_arn("data")
    model_uri = f"{config.base_uri}/models/*/output/model.tar.gz"
    plan = plan_deployment(config, model_uri, endpoint_name=endpoint_name, stamp="*")
    steps = [*definition.get("Steps", []), {"Name": "Deploy", "Type": "Model", "Arguments": plan.model}]
    usage = read_usage({**definition, "Steps": steps})
    capture = endpoint_config_request(config, plan.model["ModelName"]).get("DataCaptureConfig") or {}
    if capture.get("EnableCapture"):
        # SageMaker writes captured records with the model's execution role.
        dest = location_of_uri(capture["DestinationS3Uri"].rstrip("/") + "/")
        usage.roles[usage.step_roles["Deploy"]].writes.add(Location(dest.bucket, dest.prefix, capture.get("KmsKeyId")))

    roles: dict[str, dict[str, Any]] = {}
    policies_by_principal: dict[str, dict] = {}
    for role_arn, role in sorted(usage.roles.items()):
        statements = job_role_statements(arns, role, upload_key)
        if role.in_vpc:
            statements += vpc_statements(arns, config.network.subnets, config.network.security_group_ids)
        if role_arn == config.role_arn:
            statements += pipeline_role_statements(arns, usage, upload_key, tagged=bool(config.tags))
        label = EXECUTION if role_arn == config.role_arn else role_label([s for s in role.steps if s != "Deploy"])
        policy = document(statements)
        roles[label] = {"role_arn": role_arn, "steps": role.steps, "policy": policy,
                        "trust_policy": sagemaker_trust_policy(arns)}
        policies_by_principal[role_arn] = policy
    if config.role_arn not in usage.roles:  # a pipeline role that runs no step itself
        roles[EXECUTION] = {"role_arn": config.role_arn, "steps": [],
                            "policy": document(pipeline_role_statements(arns, usage, upload_key, bool(config.tags))),
                            "trust_policy": sagemaker_trust_policy(arns)}
        policies_by_principal[config.role_arn] = roles[EXECUTION]["policy"]

    upload_locations = {location_of_uri(uri, key=key) for uri, key in (uploads or {}).items()}
    for value in usage.parameters.values():  # the operator puts the input data and policy in place
        if isinstance(value, str) and value.startswith(f"s3://{config.bucket}/"):
            upload_locations.add(location_of_uri(value, generalize=False))
    operator = document(operator_statements(arns, config, plan, upload_locations, upload_key,
                                            passed_roles=sorted({config.role_arn, plan.model["ExecutionRoleArn"]}),
                                            named_operator=operator_arn is not None))
    policies_by_principal[operator_arn or f"arn:{arns.partition}:iam::{arns.account}:root"] = operator

    key_policies = {}
    for purpose in _purposes(config):
        key_policies[purpose] = key_policy(arns, config.key_arn(purpose), policies_by_principal)
    written_keys = [arns.kms(loc.key or upload_key) for role in usage.roles.values() for loc in role.writes]
    written_keys += [arns.kms(loc.key or upload_key) for loc in upload_locations]
    return {
        "roles": roles,
        OPERATOR: {"policy": operator, "trust_policy": operator_trust_policy(arns)},
        "key_policies": key_policies,
        "bucket_policy": bucket_policy(config.bucket, written_keys),
    }


def split_documents(documents: dict[str, Any]) -> dict[str, dict]:
    """One document per file name: <role>-policy.json, <role>-trust-policy.json, key-policy-<purpose>.json,
    bucket-policy.json."""
    files: dict[str, dict] = {}
    roles = dict(documents.get("roles", {}))
    if OPERATOR in documents:
        roles[OPERATOR] = documents[OPERATOR]
    for label, role in roles.items():
        files[f"{label}-policy.json"] = role["policy"]
        files[f"{label}-trust-policy.json"] = role["trust_policy"]
    for purpose, policy in documents.get("key_policies", {}).items():
        files[f"key-policy-{purpose}.json"] = policy
    if "bucket_policy" in documents:
        files["bucket-policy.json"] = documents["bucket_policy"]
    return files


def write_documents(documents: dict[str, Any], directory: Any) -> list[str]:
    import json
    from pathlib import Path

    from privml.io import atomic_write_text

    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, policy in split_documents(documents).items():
        atomic_write_text(out / name, json.dumps(policy, indent=2) + "\n", mode=0o644)
        written.append(str(out / name))
    return written
