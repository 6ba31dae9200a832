"""What each role of a pipeline definition touches: read from the definition's step requests, not assumed.

A role is the `RoleArn` of a processing or training job or the `ExecutionRoleArn` of a model; the
pipeline's own role (the config's `role_arn`, passed to CreatePipeline) also starts the jobs, passes
their roles and reads the property files conditions use (`Std:JsonGet`).

S3 locations become key-prefix patterns: a literal URI stays as it is except for its build-specific part
(a content digest or a build timestamp, and everything after it, is cut off, leaving the prefix above it,
so the policy holds for the next build of the same config); a parameter contributes its default;
`Execution.*` variables become `*`; a step property (`Steps.S.ProcessingOutputConfig.Outputs['x'].S3Output.S3Uri`,
`Steps.S.ModelArtifacts.S3ModelArtifacts`) becomes the pattern of what step S writes there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from pipelines.local.definition_eval import path_tokens
from privml.errors import PrivmlError

# A path segment that differs from build to build: a hex content digest, or a name holding a timestamp.
_BUILD_SPECIFIC = re.compile(r"^[0-9a-f]{12,}$|\d{14}|\d{4}-\d{2}-\d{2}-\d{2}-\d{2}-\d{2}")
_KMS_REFERENCE = re.compile(r"arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:(?:key|alias)/[\w/-]+|^alias/[\w/-]+$")
_ECR_IMAGE = re.compile(r"^(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/([^:@]+)")


@dataclass(frozen=True, order=True)
class Location:
    """Objects under `bucket/prefix*`, where `prefix` may hold `*` wildcards."""

    bucket: str
    prefix: str
    key: str | None = None  # the KMS key its objects are encrypted under; None: the operator's upload key


@dataclass
class RoleUsage:
    role_arn: str
    steps: list[str] = field(default_factory=list)
    job_kinds: set[str] = field(default_factory=set)  # "processing-job", "training-job", "model"
    reads: set[Location] = field(default_factory=set)
    writes: set[Location] = field(default_factory=set)
    volume_keys: set[str] = field(default_factory=set)  # SageMaker creates a grant for the volume
    direct_keys: set[str] = field(default_factory=set)  # keys the container itself calls KMS with
    images: set[tuple[str, str, str]] = field(default_factory=set)  # (account, region, repository)
    in_vpc: bool = False
    network_isolated: bool = True


@dataclass
class PipelineUsage:
    roles: dict[str, RoleUsage]
    step_roles: dict[str, str]  # step name -> role ARN
    property_files: set[Location]  # objects the pipeline role reads for Std:JsonGet
    job_kinds: set[str]  # what the pipeline role creates
    isolated_kinds: set[str]  # job kinds whose every job runs network-isolated with encrypted traffic
    parameters: dict[str, Any]


def _generalize(key: str) -> str:
    parts = key.split("/")
    for index, part in enumerate(parts):
        if _BUILD_SPECIFIC.search(part):
            return "/".join(parts[:index]) + "/" if index else ""
    return key


def _split(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://"):
        raise PrivmlError(f"iam: {uri!r} is not an s3:// URI")
    bucket, _, key = uri[len("s3://") :].partition("/")
    return bucket, key


class _Reader:
    def __init__(self, definition: dict) -> None:
        self.parameters = {p["Name"]: p.get("DefaultValue") for p in definition.get("Parameters") or []}
        self.steps: dict[str, dict] = {}
        self._collect(definition.get("Steps") or [])

    def _collect(self, steps: list[dict]) -> None:
        for step in steps:
            self.steps[step["Name"]] = step
            if step.get("Type") == "Condition":
                arguments = step.get("Arguments") or {}
                self._collect([*arguments.get("IfSteps", []), *arguments.get("ElseSteps", [])])

    # --- S3 locations ---------------------------------------------------------------------------
    def text(self, expression: Any) -> str:
        """A pattern for a string expression: literals kept, parameters as their defaults, the rest `*`."""
        if isinstance(expression, str):
            return expression
        if isinstance(expression, (int, float)):
            return str(expression)
        if isinstance(expression, dict) and "Std:Join" in expression:
            join = expression["Std:Join"]
            return str(join.get("On", "")).join(self.text(v) for v in join.get("Values", []))
        if isinstance(expression, dict) and isinstance(expression.get("Get"), str):
            ref = expression["Get"]
            if ref.startswith("Parameters."):
                default = self.parameters.get(ref.removeprefix("Parameters."))
                return "*" if default is None else str(default)
            if ref.startswith("Steps."):  # as a URI inside a Join: the output's own URI, no trailing slash
                found = self.step_property(ref)
                return f"s3://{found.bucket}/{found.prefix.rstrip('/')}"
        return "*"

    def location(self, expression: Any) -> Location:
        if isinstance(expression, dict) and str(expression.get("Get", "")).startswith("Steps."):
            return self.step_property(expression["Get"])
        literal = isinstance(expression, str)
        bucket, key = _split(self.text(expression))
        return Location(bucket, _generalize(key) if literal else key)

    def step_property(self, ref: str) -> Location:
        tokens = path_tokens(ref)
        step = self.steps.get(str(tokens[1]))
        if step is None:
            raise PrivmlError(f"iam: {ref} names no step of the definition")
        args = step.get("Arguments") or {}
        rest = tokens[2:]
        if rest[:2] == ["ProcessingOutputConfig", "Outputs"] and len(rest) >= 3:
            config = args.get("ProcessingOutputConfig") or {}
            for output in config.get("Outputs") or []:
                if output.get("OutputName") == rest[2]:
                    found = self.location(output["S3Output"]["S3Uri"])
                    return Location(found.bucket, found.prefix.rstrip("/") + "/", config.get("KmsKeyId"))
        if rest == ["ModelArtifacts", "S3ModelArtifacts"]:
            output = args.get("OutputDataConfig") or {}
            found = self.location(output["S3OutputPath"])
            # SageMaker writes <S3OutputPath>/<training job name>/output/model.tar.gz
            return Location(found.bucket, found.prefix.rstrip("/") + "/*/output/model.tar.gz", output.get("KmsKeyId"))
        raise PrivmlError(f"iam: cannot tell which S3 objects {ref} refers to")


def _job_outputs(reader: _Reader, step: dict) -> list[Location]:
    args = step.get("Arguments") or {}
    if step["Type"] == "Processing":
        config = args.get("ProcessingOutputConfig") or {}
        return [
            Location(loc.bucket, loc.prefix.rstrip("/") + "/", config.get("KmsKeyId"))
            for loc in (reader.location(o["S3Output"]["S3Uri"]) for o in config.get("Outputs") or [])
        ]
    if step["Type"] == "Training":
        output = args.get("OutputDataConfig") or {}
        loc = reader.location(output["S3OutputPath"])
        return [Location(loc.bucket, loc.prefix.rstrip("/") + "/", output.get("KmsKeyId"))]
    return []


def _job_inputs(step: dict) -> list[Any]:
    args = step.get("Arguments") or {}
    if step["Type"] == "Processing":
        return [i["S3Input"]["S3Uri"] for i in args.get("ProcessingInputs") or [] if "S3Input" in i]
    if step["Type"] == "Training":
        return [c["DataSource"]["S3DataSource"]["S3Uri"] for c in args.get("InputDataConfig") or []
                if "S3DataSource" in (c.get("DataSource") or {})]
    if step["Type"] == "Model":
        containers = [args.get("PrimaryContainer") or {}, *(args.get("Containers") or [])]
        uris = [c["ModelDataUrl"] for c in containers if c.get("ModelDataUrl")]
        uris += [c["ModelDataSource"]["S3DataSource"]["S3Uri"] for c in containers
                 if (c.get("ModelDataSource") or {}).get("S3DataSource")]
        for c in containers:
            uris += [s["S3DataSource"]["S3Uri"] for s in c.get("AdditionalModelDataSources") or []
                     if s.get("S3DataSource")]
        return uris
    return []


def _kms_references(node: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(node, str):
        found |= {m.group(0) for m in _KMS_REFERENCE.finditer(node)}
    elif isinstance(node, dict):
        for value in node.values():
            found |= _kms_references(value)
    elif isinstance(node, list):
        for value in node:
            found |= _kms_references(value)
    return found


_ROLE_FIELD = {"Processing": "RoleArn", "Training": "RoleArn", "Model": "ExecutionRoleArn"}
_JOB_KIND = {"Processing": "processing-job", "Training": "training-job", "Model": "model"}


def read_usage(definition: dict) -> PipelineUsage:
    """Per role, what the definition's steps read, write, encrypt and reach."""
    reader = _Reader(definition)
    roles: dict[str, RoleUsage] = {}
    step_roles: dict[str, str] = {}
    isolated: dict[str, bool] = {}
    property_files: set[Location] = set()
    for name, step in reader.steps.items():
        kind = step.get("Type")
        if kind not in _ROLE_FIELD:
            continue
        args = step.get("Arguments") or {}
        role_arn = args.get(_ROLE_FIELD[kind])
        if not isinstance(role_arn, str):
            raise PrivmlError(f"iam: step {name} has no literal {_ROLE_FIELD[kind]}")
        usage = roles.setdefault(role_arn, RoleUsage(role_arn))
        step_roles[name] = role_arn
        usage.steps.append(name)
        usage.job_kinds.add(_JOB_KIND[kind])
        for uri in _job_inputs(step):
            usage.reads.add(reader.location(uri))
        usage.writes |= set(_job_outputs(reader, step))
        if kind == "Processing":
            resources = (args.get("ProcessingResources") or {}).get("ClusterConfig") or {}
            network = args.get("NetworkConfig") or {}
            vpc = network.get("VpcConfig")
            image = (args.get("AppSpecification") or {}).get("ImageUri")
            direct = _kms_references([args.get("Environment"), (args.get("AppSpecification") or {})])
        elif kind == "Training":
            resources = args.get("ResourceConfig") or {}
            network = args
            vpc = args.get("VpcConfig")
            image = (args.get("AlgorithmSpecification") or {}).get("TrainingImage")
            direct = _kms_references([args.get("Environment"), args.get("HyperParameters")])
        else:
            resources, network, vpc = {}, args, args.get("VpcConfig")
            containers = [args.get("PrimaryContainer") or {}, *(args.get("Containers") or [])]
            image = containers[0].get("Image")
            direct = _kms_references([c.get("Environment") for c in containers])
        if resources.get("VolumeKmsKeyId"):
            usage.volume_keys.add(resources["VolumeKmsKeyId"])
        usage.direct_keys |= direct
        match = _ECR_IMAGE.match(image or "")
        if match:
            usage.images.add(match.groups())  # type: ignore[arg-type]
        usage.in_vpc |= bool(isinstance(vpc, dict) and vpc.get("Subnets"))
        step_isolated = network.get("EnableNetworkIsolation") is True
        usage.network_isolated &= step_isolated
        if kind != "Model":
            both = step_isolated and network.get("EnableInterContainerTrafficEncryption") is True
            isolated[_JOB_KIND[kind]] = isolated.get(_JOB_KIND[kind], True) and both
        for property_file in step.get("PropertyFiles") or []:
            config = args.get("ProcessingOutputConfig") or {}
            for output in config.get("Outputs") or []:
                if output.get("OutputName") == property_file.get("OutputName"):
                    loc = reader.location(output["S3Output"]["S3Uri"])
                    path = loc.prefix.rstrip("/") + "/" + str(property_file.get("FilePath", "")).lstrip("/")
                    property_files.add(Location(loc.bucket, path, config.get("KmsKeyId")))
    return PipelineUsage(
        roles=roles,
        step_roles=step_roles,
        property_files=property_files,
        job_kinds={kind for usage in roles.values() for kind in usage.job_kinds},
        isolated_kinds={kind for kind, ok in isolated.items() if ok},
        parameters=reader.parameters,
    )


def location_of_uri(uri: str, *, key: str | None = None, generalize: bool = True) -> Location:
    """The location of a literal s3:// URI (its build-specific part a wildcard unless `generalize=False`).
"""
    bucket, prefix = _split(uri)
    return Location(bucket, _generalize(prefix) if generalize else prefix, key)
