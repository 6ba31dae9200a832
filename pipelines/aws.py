"""Run the pipeline on AWS: audit, ship the code, upsert the pipeline, start an execution.

The audit runs first and refuses on any blocking finding that is not waived by rule id; waivers are
recorded in the returned record and in the execution's description, so the run carries its waivers.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterable
from typing import Any

from pipelines.audit import audit, validate_waivers
from pipelines.audit.resources import check_run_parameters
from pipelines.config import PipelineConfig
from pipelines.definition import build_definition_with_artifacts, endpoint_config_request
from privml.errors import CheckFailed, PrivmlError

log = logging.getLogger("privml")


def run_on_aws(
    config: PipelineConfig,
    *,
    waivers: Iterable[str] = (),
    parameters: dict[str, str] | None = None,
    boto_session: Any = None,
    endpoint_url: str | None = None,
) -> dict:
    """Audit, upload the build's code objects, upsert the pipeline and start one execution.

    Returns the run record: pipeline and execution ARNs, the waived findings, the uploaded URIs, and per role
    the image profile the dependencies were proved against (check_images, before any upload).
    `parameters` overrides pipeline parameters for this execution; each is checked against the jobs that
    read it (an instance type the API would refuse with the job's volume key is refused here, exit 2).
    `endpoint_url` points every AWS client at one endpoint (tests: a moto server on 127.0.0.1).
    """
    import boto3

    requested_waivers = list(validate_waivers(waivers))
    if config.local:
        raise PrivmlError("config: a local-mode config (local KMS aliases) cannot run on AWS")
    image_checks = check_images(config)

    definition, artifacts = build_definition_with_artifacts(config)
    overrides = check_run_parameters(definition, parameters or {})

    session = boto_session or boto3.Session(region_name=config.region)
    client_args = {"region_name": config.region, **({"endpoint_url": endpoint_url} if endpoint_url else {})}
    s3 = session.client("s3", **client_args)
    sagemaker = session.client("sagemaker", **client_args)
    if not config.key_preparation:  # a keyed policy needs PrepareKeys: refused before any upload
        _refuse_keyed_policy(s3, config)
    _refuse_dp_policy_without_domain(s3, config, parameters or {})
    endpoint_config = endpoint_config_request(config, f"{config.pipeline_name}-model")
    result = audit(definition, config=config, endpoint_configs=[endpoint_config], waivers=requested_waivers)
    if result.blocking:
        ids = sorted({f.rule_id for f in result.blocking})
        raise CheckFailed(f"audit: {len(result.blocking)} finding(s) ({', '.join(ids)}); not started")


    uploaded = []
    for uri, artifact in sorted(artifacts.objects.items()):
        bucket, key = uri[len("s3://") :].split("/", 1)
        s3.put_object(
            Bucket=bucket,
            Key=key,
            Body=artifact.data,
            ServerSideEncryption="aws:kms",
            SSEKMSKeyId=artifact.kms_key_id or config.key_arn("data"),
        )
        uploaded.append(uri)

    body = json.dumps(definition)
    tags = [{"Key": k, "Value": v} for k, v in sorted(config.tags.items())]
    # ListPipelines rather than DescribePipeline: "not found" is a different error code on AWS and moto.
    summaries = sagemaker.list_pipelines(PipelineNamePrefix=config.pipeline_name).get("PipelineSummaries", [])
    exists = any(p.get("PipelineName") == config.pipeline_name for p in summaries)
    if exists:
        response = sagemaker.update_pipeline(
            PipelineName=config.pipeline_name, PipelineDefinition=body, RoleArn=config.role_arn
        )
    else:
        response = sagemaker.create_pipeline(
            PipelineName=config.pipeline_name,
            PipelineDefinition=body,
            RoleArn=config.role_arn,
            ClientRequestToken=str(uuid.uuid4()),
            **({"Tags": tags} if tags else {}),
        )
    pipeline_arn = response["PipelineArn"]

    description = "privml run" + (f"; audit waivers: {', '.join(requested_waivers)}" if requested_waivers else "")
    execution = sagemaker.start_pipeline_execution(
        PipelineName=config.pipeline_name,
        PipelineExecutionDescription=description,
        ClientRequestToken=str(uuid.uuid4()),
        **({"PipelineParameters": [{"Name": k, "Value": str(v)} for k, v in sorted(overrides.items())]}
           if overrides else {}),
    )
    for finding in result.waived:
        log.warning("audit finding waived: %s at %s: %s", finding.rule_id, finding.location, finding.message)
    return {
        "mode": "aws",
        "region": config.region,
        "pipeline_name": config.pipeline_name,
        "pipeline_arn": pipeline_arn,
        "execution_arn": execution["PipelineExecutionArn"],
        "updated": exists,
        "waivers": requested_waivers,
        "parameters": {k: str(v) for k, v in sorted(overrides.items())},
        "waived_findings": [f.to_dict() for f in result.waived],
        "warnings": [f.to_dict() for f in result.findings if not f.blocking],
        "uploaded": uploaded,
        "endpoint_config": endpoint_config,
        "image_checks": image_checks,
    }


def check_images(config: PipelineConfig) -> dict[str, dict]:
    """Before anything is uploaded: every role's image has a profile privml can run on, and the wheelhouse
    resolves offline for each profile with pip's resolver (PrivmlError, exit 2, naming the field)."""
    from pipelines.images import require_usable
    from pipelines.wheelhouse import check_profile

    chosen = require_usable(config)
    by_profile = {}
    for role_image in chosen.values():
        if role_image.profile.name not in by_profile:
            by_profile[role_image.profile.name] = check_profile(role_image.profile, config.code.wheelhouse,
                                                                offline_only=True)
    return {role: {**role_image.to_dict(), "check": by_profile[role_image.profile.name].how,
                   "detail": by_profile[role_image.profile.name].detail}
            for role, role_image in chosen.items()}


def _refuse_dp_policy_without_domain(s3: Any, config: PipelineConfig, parameters: dict[str, str]) -> None:
    """A DP run whose policy (at the config's policy URI) leaves an input's bounds or categories to the
    data is refused before anything is uploaded (pipelines/dp_preflight.py); a policy not uploaded yet is
    checked by Train, which refuses it with the same words."""
    from botocore.exceptions import ClientError

    from pipelines.dp_preflight import check_dp_policy_text, is_dp_run

    if not is_dp_run(parameters, default_model=config.privacy.model, default_epsilon=config.privacy.dp_epsilon):
        return
    bucket, key = config.default_policy_uri[len("s3://") :].split("/", 1)
    try:
        text = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        log.warning("policy %s not readable (%s): its DP domain is checked by Train",
                    config.default_policy_uri, exc.response.get("Error", {}).get("Code", "error"))
        return
    check_dp_policy_text(text, source=config.default_policy_uri, parameters=parameters,
                         default_model=config.privacy.model, default_epsilon=config.privacy.dp_epsilon)


def _refuse_keyed_policy(s3: Any, config: PipelineConfig) -> None:
    """Without the key-preparation path, a keyed policy at the config's policy URI is refused before
    anything is uploaded (s3:GetObject on that one object). A policy not uploaded yet cannot be checked
    here; the Anonymize job then refuses it (PRIVML_KEY_PROVIDER=none)."""
    from botocore.exceptions import ClientError

    from pipelines.key_preparation import refuse_keyed_policy_without_path

    bucket, key = config.default_policy_uri[len("s3://") :].split("/", 1)
    try:
        text = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        log.warning("policy %s not readable (%s): not checked for keyed techniques",
                    config.default_policy_uri, exc.response.get("Error", {}).get("Code", "error"))
        return
    refuse_keyed_policy_without_path(config, text, source=config.default_policy_uri)
