"""Deploy a trained model to a SageMaker endpoint: CreateModel → CreateEndpointConfig → CreateEndpoint.

The requests carry privml's controls — network isolation and the VPC on the model, the endpoint's KMS
key on the volume, data capture encrypted under the capture key and capturing outputs only unless the
config says otherwise — and pass the audit before any of them is sent. A blocking finding stops the
deployment (CheckFailed, exit 1); warnings (e.g. capturing inputs) are returned with the result.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any

from privml.errors import CheckFailed, PrivmlError

log = logging.getLogger("privml.deploy")

@dataclass
class DeployPlan:
    endpoint_name: str
    model: dict[str, Any]
    endpoint_config: dict[str, Any]
    endpoint: dict[str, Any]
    findings: list[Any] = field(default_factory=list)


def _tags(config: Any) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in sorted(config.tags.items())]


def _serving_image(config: Any) -> str:
    """The inference image by its profile; a profile whose Python cannot run privml is refused (exit 2)."""
    from pipelines.images import require_usable

    return require_usable(config, ("inference",))["inference"].uri


def model_request(config: Any, model_name: str, model_data_url: str, *,
                  keys_data_url: str | None = None) -> dict:
    """The CreateModel request. `keys_data_url`: the run's serving derived-secrets object, attached as an
    AdditionalModelDataSource (never inside model.tar.gz) and read by the handler with the file provider;
    without it the endpoint gets no key material (PRIVML_KEY_PROVIDER=none)."""
    from pipelines import key_preparation as keyprep
    from pipelines.definition import SERVING_ENV  # the model the pipeline's CreateModel step would make

    if keys_data_url is not None and not keys_data_url.startswith(f"s3://{config.bucket}/"):
        raise PrivmlError(f"--keys-data must be an s3:// URI in the config's bucket ({config.bucket})")
    container: dict[str, Any] = {
        "Image": _serving_image(config),
        "ModelDataUrl": model_data_url,
        "Environment": {**SERVING_ENV, **keyprep.serving_env(keys_data_url is not None)},
    }
    if keys_data_url is not None:
        container["AdditionalModelDataSources"] = keyprep.serving_data_sources(keys_data_url)
    request: dict[str, Any] = {
        "ModelName": model_name,
        "ExecutionRoleArn": config.role_arn,
        "PrimaryContainer": container,
        "EnableNetworkIsolation": True,
    }
    if config.network.subnets:
        request["VpcConfig"] = {
            "Subnets": list(config.network.subnets),
            "SecurityGroupIds": list(config.network.security_group_ids),
        }
    if config.tags:
        request["Tags"] = _tags(config)
    return request


def plan_deployment(config: Any, model_data_url: str, *, endpoint_name: str | None = None,
                    stamp: str | None = None,
                    keys_data_url: str | None = None) -> DeployPlan:
    from pipelines.definition import endpoint_config_request

    if not model_data_url.startswith("s3://"):
        raise PrivmlError("--model-data must be the s3:// URI of the training job's model.tar.gz")
    name = endpoint_name or config.pipeline_name
    stamp = stamp or dt.datetime.now(dt.UTC).strftime("%Y%m%d%H%M%S")
    model_name = f"{name}-{stamp}"[:63]
    model = model_request(config, model_name, model_data_url, keys_data_url=keys_data_url)
    endpoint_config = endpoint_config_request(config, model_name, name=f"{model_name}-config"[:63])
    endpoint: dict[str, Any] = {"EndpointName": name, "EndpointConfigName": endpoint_config["EndpointConfigName"]}
    if config.tags:
        endpoint["Tags"] = _tags(config)
    return DeployPlan(name, model, endpoint_config, endpoint)


def audit_plan(plan: DeployPlan, config: Any, waivers: tuple[str, ...] = ()) -> DeployPlan:
    """Run the pipeline audit over the model and endpoint config requests; raise on blocking findings."""
    from pipelines.audit import audit

    definition = {"Version": "2020-12-01", "Parameters": [],
                  "Steps": [{"Name": "Deploy", "Type": "Model", "Arguments": plan.model}]}
    result = audit(definition, config=config, endpoint_configs=[plan.endpoint_config], waivers=waivers)
    plan.findings = result.findings
    blocking = result.blocking
    if blocking:
        first = blocking[0]
        raise CheckFailed(
            f"audit failed ({len(blocking)} blocking finding(s)); first: {first.rule_id} {first.location}: "
            f"{first.message}"
        )
    for f in result.findings:
        log.warning("audit %s: %s %s: %s", f.severity, f.rule_id, f.location, f.message)
    return plan


def execute(plan: DeployPlan, client: Any) -> dict[str, Any]:
    """Send the three requests; an existing endpoint of that name is updated to the new config."""
    model = client.create_model(**plan.model)
    config = client.create_endpoint_config(**plan.endpoint_config)
    try:
        endpoint = client.create_endpoint(**plan.endpoint)
        action = "created"
    except client.exceptions.ClientError as exc:
        message = str(exc.response.get("Error", {}).get("Message", ""))
        if "already exist" not in message.lower():
            raise
        endpoint = client.update_endpoint(
            EndpointName=plan.endpoint["EndpointName"], EndpointConfigName=plan.endpoint["EndpointConfigName"]
        )
        action = "updated"
    return {
        "endpoint_name": plan.endpoint_name,
        "action": action,
        "model_arn": model.get("ModelArn"),
        "endpoint_config_arn": config.get("EndpointConfigArn"),
        "endpoint_arn": endpoint.get("EndpointArn"),
        "warnings": [f.to_dict() for f in plan.findings],
    }


def deploy_aws(config: Any, model_data_url: str, *, endpoint_name: str | None = None,
               waivers: tuple[str, ...] = (), client: Any = None, keys_data_url: str | None = None) -> dict[str, Any]:
    plan = audit_plan(plan_deployment(config, model_data_url, endpoint_name=endpoint_name,
                                      keys_data_url=keys_data_url), config, waivers)
    if client is None:
        import boto3

        client = boto3.client("sagemaker", region_name=config.region)
    return execute(plan, client)
