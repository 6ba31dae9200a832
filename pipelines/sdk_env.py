"""Running the SageMaker SDK offline: under moto, role check off, telemetry off, S3 uploads captured.

Building a definition makes the SDK upload code to S3; under moto those uploads land in a mock
bucket, from which they are collected as `BuildArtifacts` (local mode copies them into its object
store; `run_on_aws` uploads them to the real bucket).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from pipelines import telemetry
from pipelines.config import PipelineConfig


@dataclass(frozen=True)
class Artifact:
    data: bytes
    kms_key_id: str | None


@dataclass
class BuildArtifacts:
    """Objects the build put into S3, by s3:// URI."""

    objects: dict[str, Artifact] = field(default_factory=dict)


_BUILD_SESSIONS: dict[str, Any] = {}


def _build_boto_session(region: str) -> Any:
    """One boto3 session per region for every build in this process: it caches the service models
    it has loaded (reading them is most of a build's time). Only ever used under moto."""
    import boto3

    if region not in _BUILD_SESSIONS:
        _BUILD_SESSIONS[region] = boto3.Session(region_name=region)
    return _BUILD_SESSIONS[region]


@contextlib.contextmanager
def _offline_sdk_environment(region: str) -> Iterator[None]:
    overrides = {
        # The SDK simulates the role with iam:SimulatePrincipalPolicy unless told not to (moto lacks it).
        "SAGEMAKER_VALIDATE_ROLE": "false",
        # Some SDK modules create boto3 clients at import time and need a region to do so.
        "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION") or region,
        # The build's uploads must reach the in-process mock: an endpoint configured for real use
        # (AWS_ENDPOINT_URL[_<SERVICE>], `endpoint_url` in ~/.aws/config) would send them there instead.
        "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "true",
    }
    saved = {name: os.environ.get(name) for name in overrides}
    os.environ.update(overrides)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextlib.contextmanager
def _sdk_config_validated_once() -> Iterator[None]:
    """The SDK re-validates its whole defaults config against a JSON schema on every lookup (about
    fifty per build, most of the build's time); one validation per distinct config gives the same
    answer."""
    from sagemaker.core.config.config_manager import SageMakerConfig

    original = SageMakerConfig.__dict__["validate_sagemaker_config"]
    validated: set[str] = set()

    def validate_once(sagemaker_config: dict | None = None) -> None:
        marker = json.dumps(sagemaker_config, sort_keys=True, default=str)
        if marker not in validated:
            original.__func__(sagemaker_config)
            validated.add(marker)

    SageMakerConfig.validate_sagemaker_config = staticmethod(validate_once)  # type: ignore[method-assign]
    try:
        yield
    finally:
        SageMakerConfig.validate_sagemaker_config = original  # type: ignore[method-assign]


@contextlib.contextmanager
def offline_sdk(config: PipelineConfig) -> Iterator[Any]:
    """A boto3 session under moto, with the config's bucket created, for the SDK to build against."""
    from moto import mock_aws

    telemetry.disable_sdk_telemetry()
    with (
        _offline_sdk_environment(config.region),
        _sdk_config_validated_once(),
        _quiet_sdk(),
        mock_aws(),
    ):
        boto_session = _build_boto_session(config.region)
        create: dict[str, Any] = {"Bucket": config.bucket}
        if config.region != "us-east-1":
            create["CreateBucketConfiguration"] = {"LocationConstraint": config.region}
        boto_session.client("s3", region_name=config.region).create_bucket(**create)
        yield boto_session


@contextlib.contextmanager
def _quiet_sdk() -> Iterator[None]:
    """The SDK narrates a pipeline build (job names popped, "no wait, no logs"): not privml's news."""
    sdk_logger = logging.getLogger("sagemaker")
    level = sdk_logger.level
    sdk_logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=UserWarning, module=r"sagemaker\.")
            warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"sagemaker\.")
            yield
    finally:
        sdk_logger.setLevel(level)


def collect_uploads(boto_session: Any, config: PipelineConfig) -> BuildArtifacts:
    """Every object in the (mock) bucket, with the KMS key its upload named."""
    s3 = boto_session.client("s3", region_name=config.region)
    out = BuildArtifacts()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=config.bucket):
        for item in page.get("Contents", []):
            obj = s3.get_object(Bucket=config.bucket, Key=item["Key"])
            out.objects[f"s3://{config.bucket}/{item['Key']}"] = Artifact(obj["Body"].read(), obj.get("SSEKMSKeyId"))
    return out


def session(config: PipelineConfig, boto_session: Any = None) -> Any:
    """A PipelineSession on the config's bucket and prefix, SDK defaults honoured, telemetry off."""
    import boto3
    from sagemaker.core.workflow.pipeline_context import PipelineSession

    from pipelines.config import load_sdk_config

    telemetry.disable_sdk_telemetry()
    return PipelineSession(
        boto_session=boto_session or boto3.Session(region_name=config.region),
        default_bucket=config.bucket,
        default_bucket_prefix=config.prefix,
        sagemaker_config=telemetry.with_telemetry_opt_out(load_sdk_config()),
    )
