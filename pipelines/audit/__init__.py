"""Audit a pipeline definition (and endpoint configs) for the controls privml requires.

`audit_definition` returns the findings that are not waived. Waivers name rule ids; a waived finding
is kept out of the result but `audit` returns it too, so that callers can record what was waived.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from pipelines.audit.resources import job_resource_problems
from pipelines.audit.rules import RULES, Rule
from pipelines.instance_storage import UnknownInstanceFamily, has_local_storage
from privml.errors import PrivmlError

__all__ = ["RULES", "AuditResult", "Finding", "Rule", "audit", "audit_definition", "validate_waivers"]


@dataclass(frozen=True)
class Finding:
    rule_id: str
    severity: str
    location: str  # "step Train (Training)", "endpoint config privml-model-config"
    message: str
    fix: str
    counterparts: dict[str, str] = field(default_factory=dict)

    @property
    def blocking(self) -> bool:
        return RULES[self.rule_id].blocking

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"blocking": self.blocking}


@dataclass(frozen=True)
class AuditResult:
    findings: list[Finding]
    waived: list[Finding]

    @property
    def blocking(self) -> list[Finding]:
        return [f for f in self.findings if f.blocking]


def validate_waivers(waivers: Iterable[str]) -> tuple[str, ...]:
    out = tuple(dict.fromkeys(w.strip().upper() for w in waivers))
    unknown = [w for w in out if w not in RULES]
    if unknown:
        raise PrivmlError(f"--waive: unknown rule id(s) {', '.join(unknown)}; known: {', '.join(RULES)}")
    return out


def audit_definition(
    definition: dict,
    *,
    config: Any = None,
    endpoint_configs: Iterable[dict] = (),
    waivers: Iterable[str] = (),
) -> list[Finding]:
    """The unwaived findings for a pipeline definition (dict) and endpoint config requests."""
    return audit(definition, config=config, endpoint_configs=endpoint_configs, waivers=waivers).findings


def audit(
    definition: dict,
    *,
    config: Any = None,
    endpoint_configs: Iterable[dict] = (),
    waivers: Iterable[str] = (),
) -> AuditResult:
    if not isinstance(definition, dict) or not isinstance(definition.get("Steps"), list):
        raise PrivmlError("definition: not a SageMaker pipeline definition (no Steps list)")
    waived_ids = set(validate_waivers(waivers))
    findings: list[Finding] = []
    defaults = {p.get("Name"): p.get("DefaultValue") for p in definition.get("Parameters") or []}
    for step in _steps(definition["Steps"]):
        findings += _check_step(step, defaults)
    for index, request in enumerate(endpoint_configs):
        findings += _check_endpoint_config(request, index)
    findings += _check_strings(definition, endpoint_configs, config)
    return AuditResult(
        findings=[f for f in findings if f.rule_id not in waived_ids],
        waived=[f for f in findings if f.rule_id in waived_ids],
    )


def _finding(rule_id: str, location: str, message: str) -> Finding:
    rule = RULES[rule_id]
    return Finding(rule_id, rule.severity, location, message, rule.fix, dict(rule.counterparts))


def _steps(steps: list[dict]) -> Iterator[dict]:
    for step in steps:
        yield step
        arguments = step.get("Arguments") or {}
        if step.get("Type") == "Condition":
            yield from _steps(arguments.get("IfSteps", []))
            yield from _steps(arguments.get("ElseSteps", []))


def _is_true(value: Any) -> bool:
    # A pipeline parameter ({"Get": ...}) can be switched off per execution: not a control.
    return value is True


def _local_storage(instance_type: Any, defaults: dict) -> bool:
    """Whether a job's (default) instance type has local NVMe storage, whose volume takes no key."""
    if isinstance(instance_type, dict) and str(instance_type.get("Get", "")).startswith("Parameters."):
        instance_type = defaults.get(instance_type["Get"].removeprefix("Parameters."))
    try:
        return isinstance(instance_type, str) and instance_type != "local" and has_local_storage(instance_type)
    except (UnknownInstanceFamily, ValueError):
        return False  # reported by PRIVML-JOB-006


def _check_step(step: dict, defaults: dict) -> list[Finding]:
    kind = step.get("Type")
    args = step.get("Arguments") or {}
    where = f"step {step.get('Name')} ({kind})"
    out: list[Finding] = []
    if kind in ("Processing", "Training"):
        for problem in job_resource_problems(step, defaults):
            source = f" (parameter {problem.parameter}'s default)" if problem.parameter else ""
            out.append(_finding(problem.rule_id, where, f"{problem.field}{source}: {problem.message}"))
    if kind == "Processing":
        cluster = (args.get("ProcessingResources") or {}).get("ClusterConfig") or {}
        network = args.get("NetworkConfig") or {}
        if not cluster.get("VolumeKmsKeyId") and not _local_storage(cluster.get("InstanceType"), defaults):
            out.append(_finding("PRIVML-JOB-001", where, "ProcessingResources.ClusterConfig.VolumeKmsKeyId is not set"))
        if not (args.get("ProcessingOutputConfig") or {}).get("KmsKeyId"):
            out.append(_finding("PRIVML-JOB-002", where, "ProcessingOutputConfig.KmsKeyId is not set"))
        if not _is_true(network.get("EnableNetworkIsolation")) and not _is_key_preparation(args):
            out.append(_finding("PRIVML-JOB-003", where, "NetworkConfig.EnableNetworkIsolation is not true"))
        if not _has_vpc(network.get("VpcConfig")):
            out.append(_finding("PRIVML-JOB-004", where, "NetworkConfig.VpcConfig is missing or empty"))
        if not _is_true(network.get("EnableInterContainerTrafficEncryption")):
            out.append(
                _finding("PRIVML-JOB-005", where, "NetworkConfig.EnableInterContainerTrafficEncryption is not true")
            )
        out += _check_secrets(where, "Environment", args.get("Environment"))
    elif kind == "Training":
        resources = args.get("ResourceConfig") or {}
        if not resources.get("VolumeKmsKeyId") and not _local_storage(resources.get("InstanceType"), defaults):
            out.append(_finding("PRIVML-JOB-001", where, "ResourceConfig.VolumeKmsKeyId is not set"))
        if not (args.get("OutputDataConfig") or {}).get("KmsKeyId"):
            out.append(_finding("PRIVML-JOB-002", where, "OutputDataConfig.KmsKeyId is not set"))
        if not _is_true(args.get("EnableNetworkIsolation")):
            out.append(_finding("PRIVML-JOB-003", where, "EnableNetworkIsolation is not true"))
        if not _has_vpc(args.get("VpcConfig")):
            out.append(_finding("PRIVML-JOB-004", where, "VpcConfig is missing or empty"))
        if not _is_true(args.get("EnableInterContainerTrafficEncryption")):
            out.append(_finding("PRIVML-JOB-005", where, "EnableInterContainerTrafficEncryption is not true"))
        out += _check_secrets(where, "Environment", args.get("Environment"))
        out += _check_secrets(where, "HyperParameters", args.get("HyperParameters"))
    elif kind == "Model":
        if not _is_true(args.get("EnableNetworkIsolation")):
            out.append(_finding("PRIVML-JOB-003", where, "EnableNetworkIsolation is not true"))
        if not _has_vpc(args.get("VpcConfig")):
            out.append(_finding("PRIVML-JOB-004", where, "VpcConfig is missing or empty"))
        containers = [args.get("PrimaryContainer") or {}, *(args.get("Containers") or [])]
        for container in containers:
            out += _check_secrets(where, "Environment", container.get("Environment"))
    return out


# The inputs a key-preparation job may have: it reads the policy, never data.
_KEY_PREPARATION_INPUTS = frozenset({"policy", "code"})


def _is_key_preparation(args: dict) -> bool:
    """The key-preparation step (pipelines/key_preparation.py) is the one job allowed off network isolation:
    it calls KMS (PRIVML_KEY_PROVIDER=aws), inside a VPC, and is given no data input — only the policy and
    its code. A job off isolation that reads anything else is still a finding."""
    env = args.get("Environment") or {}
    names = {i.get("InputName") for i in args.get("ProcessingInputs") or []}
    return (env.get("PRIVML_KEY_PROVIDER") == "aws" and names <= _KEY_PREPARATION_INPUTS
            and _has_vpc((args.get("NetworkConfig") or {}).get("VpcConfig")))


def _has_vpc(vpc: Any) -> bool:
    return isinstance(vpc, dict) and bool(vpc.get("Subnets")) and bool(vpc.get("SecurityGroupIds"))


def _check_endpoint_config(request: dict, index: int) -> list[Finding]:
    where = f"endpoint config {request.get('EndpointConfigName') or f'#{index + 1}'}"
    out: list[Finding] = []
    variants = request.get("ProductionVariants") or []
    local = [v.get("InstanceType") for v in variants if _local_storage(v.get("InstanceType"), {})]
    if request.get("KmsKeyId") and local:
        out.append(_finding("PRIVML-EP-004", where, f"KmsKeyId is set but {', '.join(local)} has local NVMe "
                            "instance storage (CreateEndpointConfig fails)"))
    if not request.get("KmsKeyId") and not (variants and len(local) == len(variants)):
        out.append(_finding("PRIVML-EP-001", where, "KmsKeyId is not set"))
    capture = request.get("DataCaptureConfig") or {}
    if capture and capture.get("EnableCapture", True) is not False:
        if not capture.get("KmsKeyId"):
            out.append(_finding("PRIVML-EP-002", where, "DataCaptureConfig.KmsKeyId is not set"))
        modes = {option.get("CaptureMode") for option in capture.get("CaptureOptions") or []}
        if "Input" in modes:
            out.append(_finding("PRIVML-EP-003", where, "DataCaptureConfig captures Input"))
    for variant in request.get("ProductionVariants") or []:
        out += _check_secrets(where, "Environment", variant.get("Environment"))
    return out


_SECRET_NAME = re.compile(
    r"(passw(or)?d|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|credential|auth)", re.IGNORECASE
)
_SECRET_VALUE = re.compile(
    r"(AKIA|ASIA)[0-9A-Z]{16}|-----BEGIN [A-Z ]*PRIVATE KEY-----|\b[A-Za-z0-9/+=]{40}\b|\bgh[pousr]_[A-Za-z0-9]{36}\b"
)
# Names the SageMaker containers define themselves; they hold no secret.
_BENIGN_NAMES = frozenset({"SAGEMAKER_SUBMIT_DIRECTORY", "SAGEMAKER_PROGRAM", "SAGEMAKER_CONTAINER_LOG_LEVEL"})


def _check_secrets(where: str, field_name: str, mapping: Any) -> list[Finding]:
    if not isinstance(mapping, dict):
        return []
    out = []
    for name, value in mapping.items():
        if name in _BENIGN_NAMES:
            continue
        text = value if isinstance(value, str) else ""
        if _SECRET_NAME.search(str(name)) or _SECRET_VALUE.search(text):
            # Name the variable, never its value (it may be the secret).
            out.append(_finding("PRIVML-SEC-001", where, f"{field_name}[{name}] looks like a secret"))
    return out


def _strings(node: Any, path: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(node, str):
        yield path, node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from _strings(value, f"{path}.{key}" if path else str(key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _strings(value, f"{path}[{index}]")


def _check_strings(definition: dict, endpoint_configs: Iterable[dict], config: Any) -> list[Finding]:
    out: list[Finding] = []
    bucket = getattr(config, "bucket", None)
    documents = [("definition", definition)] + [
        (f"endpoint config {c.get('EndpointConfigName') or f'#{i + 1}'}", c) for i, c in enumerate(endpoint_configs)
    ]
    for where, document in documents:
        for path, text in _strings(document):
            if re.search(r"\bhttp://", text, re.IGNORECASE):
                out.append(_finding("PRIVML-URI-001", where, f"{path} is a plaintext http:// URI"))
            if bucket and text.startswith("s3://") and not re.match(rf"s3://{re.escape(bucket)}(/|$)", text):
                out.append(_finding("PRIVML-S3-001", where, f"{path} points outside s3://{bucket}/"))
    return out
