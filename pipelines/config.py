"""The pipeline config file: one YAML document, validated with pydantic, errors that name the field.

No account id, key or region is built into privml: every one comes from this file, from the
SageMaker SDK's own defaults config (honoured for the fields this file leaves out), or — for local
mode only — from `PipelineConfig.local_defaults()`, which names local KMS aliases and a local bucket.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from privml.errors import PrivmlError

KEY_PURPOSES = ("data", "volume", "model", "endpoint", "capture")
# The keys of the key-preparation path (optional: a policy without keyed techniques needs neither).
# hmac: the HMAC_256 KMS key keyed techniques derive their secrets from (only the key-preparation role
# may kms:GenerateMac on it); secrets: the key the derived-secrets objects are written under (SSE-KMS;
# only the execution role may kms:Decrypt it).
KEY_PREPARATION_PURPOSES = ("hmac", "secrets")

_ROLE_ARN = re.compile(r"^arn:aws(?:-[a-z]+)*:iam::(\d{12}):role/[\w+=,.@/-]{1,512}$")
_KMS_ARN = re.compile(r"^arn:aws(?:-[a-z]+)*:kms:([a-z]{2}(?:-[a-z]+)+-\d):(\d{12}):(key/[\w-]+|alias/[\w/-]+)$")
_KMS_ALIAS = re.compile(r"^alias/[\w/-]{1,250}$")
_REGION = re.compile(r"^[a-z]{2}(?:-[a-z]+)+-\d$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_SUBNET = re.compile(r"^subnet-[0-9a-f]{8,17}$")
_SECURITY_GROUP = re.compile(r"^sg-[0-9a-f]{8,17}$")
_PLACEHOLDER = re.compile(r"<[A-Z0-9_-]+>")
_INSTANCE = re.compile(r"^(ml\.[a-z0-9]+\.[a-z0-9]+|local)$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class KmsKeys(_Model):
    """One KMS key per purpose: S3 objects (data), job volumes, model artifacts, endpoint, capture."""

    data: str
    volume: str
    model: str
    endpoint: str
    capture: str
    hmac: str | None = None
    secrets: str | None = None


class Network(_Model):
    subnets: tuple[str, ...] = ()
    security_group_ids: tuple[str, ...] = ()

    @field_validator("subnets")
    @classmethod
    def _subnets(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for item in value:
            if not _SUBNET.match(item):
                raise ValueError("each subnet must look like subnet-0123abcd")
        return value

    @field_validator("security_group_ids")
    @classmethod
    def _groups(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for item in value:
            if not _SECURITY_GROUP.match(item):
                raise ValueError("each security group must look like sg-0123abcd")
        return value

    @model_validator(mode="after")
    def _both_or_neither(self) -> Network:
        if self.subnets and not self.security_group_ids:
            raise ValueError("security_group_ids: subnets are given but no security group")
        if self.security_group_ids and not self.subnets:
            raise ValueError("subnets: security groups are given but no subnet")
        return self


class Instance(_Model):
    type: str
    count: int = Field(default=1, ge=1, le=100)

    @field_validator("type")
    @classmethod
    def _type(cls, value: str) -> str:
        if not _INSTANCE.match(value):
            raise ValueError("an instance type looks like ml.m5.xlarge")
        return value


class Instances(_Model):
    processing: Instance = Instance(type="ml.m5.xlarge")
    training: Instance = Instance(type="ml.m5.xlarge")
    endpoint: Instance = Instance(type="ml.m5.large")

    @model_validator(mode="after")
    def _accepted_and_unsharded(self) -> Instances:
        from pipelines.instance_storage import check_instance_type

        for kind in ("processing", "training", "endpoint"):
            try:
                check_instance_type(kind, getattr(self, kind).type)
            except ValueError as exc:
                raise ValueError(f"{kind}.type: {exc}") from None
        # Every instance of a job reads the same fully replicated input and writes the same output names,
        # so a second instance would overwrite the first one's output; none of privml's jobs shards.
        for kind, steps in (("processing", "Anonymize and Evaluate"), ("training", "Train")):
            if getattr(self, kind).count != 1:
                raise ValueError(f"{kind}.count: {steps} cannot shard their input (each instance would write the "
                                 "same output names); use 1")
        return self


DEFAULT_IMAGE_PROFILE = "sklearn-1.4-2-py312"
IMAGE_ROLES = ("processing", "training", "inference")


class ImageChoice(_Model):
    """One role's image: a profile (pipelines/images/profiles/) and, optionally, an explicit URI of an
    image that profile describes (a mirror in your own ECR, a tag of the privml image)."""

    profile: str
    uri: str | None = None

    @field_validator("profile")
    @classmethod
    def _known(cls, value: str) -> str:
        from pipelines.images.profiles import all_profiles

        if value not in all_profiles():
            raise ValueError(f"no image profile {value!r} (known: {', '.join(sorted(all_profiles()))})")
        return value


class Images(_Model):
    """The container images of the jobs and the endpoint, by image profile (`privml image --list`).

    `profile` applies to every role that does not choose its own; a stock SageMaker image is resolved from
    the SDK's image registry for the region, the privml image from your account's ECR repository."""

    profile: str = DEFAULT_IMAGE_PROFILE
    processing: ImageChoice | None = None
    training: ImageChoice | None = None
    inference: ImageChoice | None = None

    @model_validator(mode="before")
    @classmethod
    def _explicit_uris_name_their_profile(cls, raw: Any) -> Any:
        if isinstance(raw, dict):
            if "sklearn_version" in raw:
                raise ValueError("sklearn_version: replaced by images.profile (e.g. sklearn-1.4-2-py312; "
                                 "`privml image --list` shows the profiles)")
            for role in IMAGE_ROLES:
                if isinstance(raw.get(role), str):
                    raise ValueError(f"{role}: an explicit image URI must name its image profile: "
                                     f"{{uri: ..., profile: ...}} (`privml image --list` shows the profiles)")
        return raw

    @field_validator("profile")
    @classmethod
    def _known(cls, value: str) -> str:
        return ImageChoice._known(value)

    def choice(self, role: str) -> tuple[str, ImageChoice]:
        """(the config field that decides, the choice) for a role."""
        explicit = getattr(self, role)
        if explicit is not None:
            return f"images.{role}", explicit
        return "images.profile", ImageChoice(profile=self.profile)


class Code(_Model):
    """How the job code and its dependencies reach jobs that cannot reach the internet."""

    # A directory of wheels for privml's job requirement set, built for the image profile's Python, ABI and
    # platform by `privml wheelhouse --profile P -o DIR`. Required on AWS unless the image holds privml.
    wheelhouse: Path | None = None

    @model_validator(mode="before")
    @classmethod
    def _renamed(cls, raw: Any) -> Any:
        if isinstance(raw, dict) and "custom_image" in raw:
            raise ValueError("custom_image: replaced by image profiles: an image that holds privml is "
                             "`images: {profile: privml}` (see `privml image`)")
        return raw


class Anonymize(_Model):
    """Which engine runs the Anonymize step: `pandas`, in memory in the processing image, or `spark`, a
    PySparkProcessor in the SageMaker Spark processing image (`spark_image`), run under `run --local` by
    pyspark in local mode (`local[*]`, the `spark` extra and a Java runtime). Same outputs, same controls."""

    engine: Literal["pandas", "spark"] = "pandas"
    spark_image: ImageChoice = ImageChoice(profile="spark-3.5-py312")
    # Mondrian on Spark: the most rows one executor partitions in memory after the top-level cuts.
    max_partition_rows: int = Field(default=1_000_000, ge=1000)

    @field_validator("spark_image")
    @classmethod
    def _spark_profile(cls, value: ImageChoice) -> ImageChoice:
        from pipelines.images.profiles import get_profile

        if get_profile(value.profile).image.get("framework") != "spark":
            raise ValueError(f"image profile {value.profile} is not a SageMaker Spark processing image")
        return value


class Privacy(_Model):
    k: int = Field(default=5, ge=2)
    dp_epsilon: float = Field(default=0.0, ge=0.0)
    # The quality gate: the model must beat the trivial predictor (majority class / training mean) on the
    # test split by quality_margin on balanced accuracy (classification) or R² (regression). 0.05: above
    # the sampling noise of balanced accuracy on a test split of a few hundred rows (about 0.03), far
    # below what a model that learned anything reaches (Adult HGB: 0.78 against 0.5).
    quality_margin: float = Field(default=0.05, ge=0.0, le=1.0)
    # An absolute floor on accuracy (regression: R²) besides the margin; 0 = none (the default).
    quality_threshold: float = Field(default=0.0, ge=0.0, le=1.0)
    # The membership-inference gate: the audit's advantage (max TPR - FPR over its attacks) allowed. None
    # (= the parameter at 1): off unless the policy declares model_privacy.max_membership_advantage.
    max_membership_advantage: float | None = Field(default=None, ge=0.0, le=1.0)
    model: Literal["hgb", "logreg", "dp_logreg", "dp_nb", "dp_rf", "ridge", "dp_linreg"] = "hgb"
    seed: int = 0


class Capture(_Model):
    enabled: bool = True
    sampling_percentage: int = Field(default=100, ge=0, le=100)
    # Request bodies carry personal data before the endpoint's PrivacyTransformer sees them.
    capture_inputs: bool = False


class PipelineConfig(_Model):
    region: str
    role_arn: str
    bucket: str
    prefix: str = "privml"
    pipeline_name: str = "privml"
    kms: KmsKeys
    network: Network = Network()
    tags: dict[str, str] = Field(default_factory=dict)
    images: Images = Images()
    instances: Instances = Instances()
    code: Code = Code()
    privacy: Privacy = Privacy()
    anonymize: Anonymize = Anonymize()
    capture: Capture = Capture()
    input_data_uri: str | None = None
    policy_uri: str | None = None
    # The role of the key-preparation step (PrepareKeys), the one principal allowed kms:GenerateMac on
    # kms.hmac. Required with kms.hmac and kms.secrets: keyed techniques need all three.
    key_preparation_role_arn: str | None = None
    # Set by local_defaults(): KMS aliases of the local key store are accepted then.
    local: bool = False

    @field_validator("region")
    @classmethod
    def _region(cls, value: str) -> str:
        if not _REGION.match(value):
            raise ValueError("not an AWS region name (like eu-west-1)")
        return value

    @field_validator("role_arn", "key_preparation_role_arn")
    @classmethod
    def _role(cls, value: str | None) -> str | None:
        if value is not None and not _ROLE_ARN.match(value):
            raise ValueError("not an IAM role ARN (arn:aws:iam::<12-digit account>:role/<name>)")
        return value

    @field_validator("bucket")
    @classmethod
    def _bucket(cls, value: str) -> str:
        if not _BUCKET.match(value) or ".." in value:
            raise ValueError("not a valid S3 bucket name")
        return value

    @field_validator("prefix", "pipeline_name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9-]{0,62}", value):
            raise ValueError("use letters, digits and hyphens (at most 63)")
        return value

    @field_validator("input_data_uri", "policy_uri")
    @classmethod
    def _s3_uri(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("s3://"):
            raise ValueError("must be an s3:// URI")
        return value

    @model_validator(mode="after")
    def _keys(self) -> PipelineConfig:
        for purpose in KEY_PURPOSES + KEY_PREPARATION_PURPOSES:
            key = getattr(self.kms, purpose)
            if key is None:
                continue
            match = _KMS_ARN.match(key)
            if match:
                if match.group(1) != self.region:
                    raise ValueError(
                        f"kms.{purpose}: the key is in region {match.group(1)} but the pipeline runs in {self.region}"
                    )
            elif not (self.local and _KMS_ALIAS.match(key)):
                raise ValueError(f"kms.{purpose}: not a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>)")
        given = [f for f, v in (("kms.hmac", self.kms.hmac), ("kms.secrets", self.kms.secrets),
                                ("key_preparation_role_arn", self.key_preparation_role_arn)) if v]
        if given and len(given) < 3:
            missing = [f for f in ("kms.hmac", "kms.secrets", "key_preparation_role_arn") if f not in given]
            raise ValueError(f"{missing[0]}: the key-preparation path needs kms.hmac, kms.secrets and "
                             f"key_preparation_role_arn together (given: {', '.join(given)})")
        if self.key_preparation_role_arn and self.key_preparation_role_arn == self.role_arn:
            raise ValueError("key_preparation_role_arn: must be its own role, not the execution role")
        for name, uri in (("input_data_uri", self.input_data_uri), ("policy_uri", self.policy_uri)):
            if uri is not None and not uri.startswith(f"s3://{self.bucket}/"):
                raise ValueError(f"{name}: must be inside the configured bucket")
        return self

    # --- derived values -------------------------------------------------------------------------
    @property
    def account_id(self) -> str:
        match = _ROLE_ARN.match(self.role_arn)
        assert match  # validated
        return match.group(1)

    @property
    def partition(self) -> str:
        return self.role_arn.split(":")[1]

    @property
    def base_uri(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    @property
    def default_input_data_uri(self) -> str:
        return self.input_data_uri or f"{self.base_uri}/input/data/"

    @property
    def default_policy_uri(self) -> str:
        return self.policy_uri or f"{self.base_uri}/input/policy/policy.yaml"

    @property
    def key_preparation(self) -> bool:
        """Whether the config gives keyed techniques their path: kms.hmac, kms.secrets and the role."""
        return bool(self.kms.hmac and self.kms.secrets and self.key_preparation_role_arn)

    def key_arn(self, purpose: str) -> str:
        """The key for a purpose as an ARN (local aliases become alias ARNs in the config region)."""
        key = getattr(self.kms, purpose)
        if key is None:
            raise PrivmlError(f"kms.{purpose}: not set (keyed techniques need the key-preparation keys)")
        if key.startswith("arn:"):
            return key
        return f"arn:{self.partition}:kms:{self.region}:{self.account_id}:{key}"

    # --- constructors ---------------------------------------------------------------------------
    @classmethod
    def from_mapping(cls, raw: Any, *, source: str = "config", sdk_config: dict | None = None) -> PipelineConfig:
        if not isinstance(raw, dict):
            raise PrivmlError(f"{source}: expected a mapping of settings")
        merged = _merge(sdk_defaults(sdk_config or {}), raw)
        _reject_placeholders(merged, source)
        try:
            return cls.model_validate(merged)
        except ValidationError as exc:
            raise PrivmlError(f"{source}: {_first_error(exc)}") from None

    @classmethod
    def load(cls, path: str | Path, *, sdk_config: dict | None = None) -> PipelineConfig:
        """Load a YAML config; fields it leaves out come from the SageMaker SDK's defaults config."""
        path = Path(path)
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise PrivmlError(f"{path}: no such config file") from None
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" (line {mark.line + 1})" if mark else ""
            raise PrivmlError(f"{path}: not valid YAML{where}") from None
        if sdk_config is None:
            sdk_config = load_sdk_config()
        # A relative code.wheelhouse is relative to the config file, not to wherever privml is run from.
        code = raw.get("code") if isinstance(raw, dict) else None
        if isinstance(code, dict) and isinstance(code.get("wheelhouse"), str) and not _PLACEHOLDER.search(
                code["wheelhouse"]) and not Path(code["wheelhouse"]).is_absolute():
            raw = {**raw, "code": {**code, "wheelhouse": str(path.parent / code["wheelhouse"])}}
        return cls.from_mapping(raw, source=str(path), sdk_config=sdk_config)

    @classmethod
    def local_defaults(
        cls,
        *,
        region: str = "us-east-1",
        bucket: str = "privml-local",
        account_id: str = "000000000000",
        **overrides: Any,
    ) -> PipelineConfig:
        """A config for local mode: the local key store's aliases, a local bucket, a placeholder role.

        The account id is a local stand-in (all zeros), never a real account; nothing leaves the machine.
        """
        raw: dict[str, Any] = {
            "region": region,
            "role_arn": f"arn:aws:iam::{account_id}:role/privml-local-execution",
            "bucket": bucket,
            "kms": {**{purpose: f"alias/privml-{purpose}" for purpose in KEY_PURPOSES},
                    # the key `privml scan` proposes for keyed techniques (privml.detect.policy)
                    "hmac": "alias/privml-tokens", "secrets": "alias/privml-secrets"},
            "key_preparation_role_arn": f"arn:aws:iam::{account_id}:role/privml-local-key-preparation",
            # Stand-ins: the local executor emulates the VPC by giving jobs no network at all.
            "network": {"subnets": ["subnet-00000000000000000"], "security_group_ids": ["sg-00000000000000000"]},
            "local": True,
        }
        return cls.from_mapping(_merge(raw, overrides), source="local defaults")


def load_sdk_config() -> dict:
    """The SageMaker SDK's own defaults config (admin + user files), or {} when there is none."""
    from sagemaker.core.config.config import load_sagemaker_config

    # The SDK sets this logger to INFO when unset, narrating every config lookup; privml's -v is enough.
    logging.getLogger("sagemaker.config").setLevel(logging.WARNING)
    try:
        return load_sagemaker_config() or {}
    except Exception as exc:  # a broken SDK config file is bad input, not a crash
        raise PrivmlError(f"SageMaker SDK defaults config: {type(exc).__name__}") from None


def _get(config: dict, *path: str) -> Any:
    node: Any = config
    for part in path:
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def sdk_defaults(sdk_config: dict) -> dict[str, Any]:
    """The privml fields that the SDK defaults config provides (privml's own file wins over these)."""
    out: dict[str, Any] = {}
    role = _get(sdk_config, "SageMaker", "ProcessingJob", "RoleArn") or _get(
        sdk_config, "SageMaker", "TrainingJob", "RoleArn"
    )
    if role:
        out["role_arn"] = role
    bucket = _get(sdk_config, "SageMaker", "PythonSDK", "Modules", "Session", "DefaultS3Bucket")
    if bucket:
        out["bucket"] = bucket
    vpc = _get(sdk_config, "SageMaker", "ProcessingJob", "NetworkConfig", "VpcConfig") or _get(
        sdk_config, "SageMaker", "TrainingJob", "VpcConfig"
    )
    if isinstance(vpc, dict):
        out["network"] = {
            "subnets": list(vpc.get("Subnets", [])),
            "security_group_ids": list(vpc.get("SecurityGroupIds", [])),
        }
    kms: dict[str, str] = {}
    for purpose, path in (
        ("volume", ("SageMaker", "ProcessingJob", "ProcessingResources", "ClusterConfig", "VolumeKmsKeyId")),
        ("data", ("SageMaker", "ProcessingJob", "ProcessingOutputConfig", "KmsKeyId")),
        ("model", ("SageMaker", "TrainingJob", "OutputDataConfig", "KmsKeyId")),
        ("endpoint", ("SageMaker", "EndpointConfig", "KmsKeyId")),
        ("capture", ("SageMaker", "EndpointConfig", "DataCaptureConfig", "KmsKeyId")),
    ):
        value = _get(sdk_config, *path)
        if value:
            kms[purpose] = value
    if kms:
        out["kms"] = kms
    return out


def _merge(base: dict, override: dict) -> dict:
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _placeholder_fields(raw: Any, path: str = "") -> list[str]:
    if isinstance(raw, dict):
        return [f for k, v in raw.items() for f in _placeholder_fields(v, f"{path}.{k}" if path else str(k))]
    if isinstance(raw, list):
        return [f for i, v in enumerate(raw) for f in _placeholder_fields(v, f"{path}[{i}]")]
    return [path] if isinstance(raw, str) and _PLACEHOLDER.search(raw) else []


def _reject_placeholders(raw: Any, source: str) -> None:
    """The shipped template holds <PLACEHOLDERS>; refuse them, naming every field still to fill."""
    fields = _placeholder_fields(raw)
    if fields:
        raise PrivmlError(f"{source}: {', '.join(fields)}: still template placeholders; fill in your own values")


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    location = ".".join(str(part) for part in error["loc"])
    message = str(error["msg"]).removeprefix("Value error, ")
    # A message that already starts with a field name (cross-field checks) needs no location.
    if re.match(r"^[a-z_.]+(\[\d+\])?: ", message):
        return f"{location}.{message}" if location else message
    return f"{location}: {message}" if location else message
