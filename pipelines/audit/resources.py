"""Instance types and counts of a definition's jobs, checked against what the SageMaker API accepts.

The types and counts are pipeline parameters, so a definition that was right for its defaults can be
made wrong at execution start (`--param ProcessingInstanceType=ml.m5d.xlarge`). `job_resource_problems`
looks at one job with given parameter values; the audit calls it with the defaults, and
`check_run_parameters` with the overrides of a run, before anything is uploaded.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from pipelines.instance_storage import UnknownInstanceFamily, check_instance_type, has_local_storage
from privml.errors import PrivmlError

# Where each kind of job keeps its resources and its data inputs' distribution types.
_RESOURCES = {"Processing": ("ProcessingResources", "ClusterConfig"), "Training": ("ResourceConfig",)}
_KIND = {"Processing": "processing", "Training": "training"}


@dataclass(frozen=True)
class ResourceProblem:
    rule_id: str
    field: str  # the request field at fault, e.g. "ProcessingResources.ClusterConfig.VolumeKmsKeyId"
    parameter: str | None  # the pipeline parameter that supplied the value, if any
    message: str


def job_steps(steps: list[dict]) -> Iterator[dict]:
    for step in steps:
        if step.get("Type") in _RESOURCES:
            yield step
        if step.get("Type") == "Condition":
            arguments = step.get("Arguments") or {}
            yield from job_steps([*arguments.get("IfSteps", []), *arguments.get("ElseSteps", [])])


def _value(expression: Any, parameters: Mapping[str, Any]) -> tuple[Any, str | None]:
    """A literal, or the value of the parameter a `{"Get": "Parameters.X"}` names (None when unknown)."""
    if isinstance(expression, dict) and isinstance(expression.get("Get"), str):
        ref = expression["Get"]
        if ref.startswith("Parameters."):
            name = ref.removeprefix("Parameters.")
            return parameters.get(name), name
        return None, None
    return expression, None


def _replicated_inputs_only(step: dict) -> bool:
    args = step.get("Arguments") or {}
    if step["Type"] == "Processing":
        kinds = [(i.get("S3Input") or {}).get("S3DataDistributionType", "FullyReplicated")
                 for i in args.get("ProcessingInputs") or []]
    else:
        kinds = [((c.get("DataSource") or {}).get("S3DataSource") or {}).get("S3DataDistributionType",
                                                                              "FullyReplicated")
                 for c in args.get("InputDataConfig") or []]
    return all(kind == "FullyReplicated" for kind in kinds)


def job_resource_problems(step: dict, parameters: Mapping[str, Any],
                          overridden: frozenset[str] = frozenset()) -> list[ResourceProblem]:
    """What the API would refuse (or what would drop the volume key) for a job at these parameter values;
    `overridden` names the parameters a run changes from the values the definition was built for."""
    kind = step["Type"]
    path = _RESOURCES[kind]
    resources: Any = step.get("Arguments") or {}
    for part in path:
        resources = resources.get(part) or {}
    where = ".".join(path)
    problems: list[ResourceProblem] = []
    instance_type, type_param = _value(resources.get("InstanceType"), parameters)
    has_volume_key = bool(resources.get("VolumeKmsKeyId"))
    if isinstance(instance_type, str):
        local_storage: bool | None = None
        try:
            check_instance_type(_KIND[kind], instance_type)
            local_storage = instance_type != "local" and has_local_storage(instance_type)
        except UnknownInstanceFamily as exc:
            problems.append(ResourceProblem("PRIVML-JOB-006", f"{where}.InstanceType", type_param, str(exc)))
        except ValueError as exc:
            problems.append(ResourceProblem("PRIVML-JOB-006", f"{where}.InstanceType", type_param, str(exc)))
        if local_storage and has_volume_key:
            problems.append(ResourceProblem(
                "PRIVML-JOB-006", f"{where}.VolumeKmsKeyId", type_param,
                f"{instance_type} has local NVMe instance storage and the SageMaker API refuses {where}."
                "VolumeKmsKeyId for it (the instance store is hardware-encrypted)"))
        if local_storage is False and not has_volume_key and type_param in overridden:
            problems.append(ResourceProblem(
                "PRIVML-JOB-006", f"{where}.VolumeKmsKeyId", type_param,
                f"{instance_type} has an EBS volume, and the definition was built for a type with local storage "
                f"and so has no {where}.VolumeKmsKeyId: the volume would not be encrypted under the configured "
                "key"))
    count, count_param = _value(resources.get("InstanceCount"), parameters)
    if count is not None and int(count) > 1 and _replicated_inputs_only(step):
        problems.append(ResourceProblem(
            "PRIVML-JOB-007", f"{where}.InstanceCount", count_param,
            f"InstanceCount {int(count)} with only fully replicated inputs: every instance reads the same data and "
            "writes the same output names"))
    return problems


def check_run_parameters(definition: dict, overrides: Mapping[str, str]) -> dict[str, Any]:
    """Parse a run's parameter overrides against the definition and refuse the ones its jobs cannot take.

    Returns the typed values of the overrides. Raises PrivmlError (exit 2) naming the parameter and the
    request field, before anything is uploaded or started.
    """
    from pipelines.local.definition_eval import parse_parameters

    declared = [p["Name"] for p in definition.get("Parameters", [])]
    unknown = sorted(set(overrides) - set(declared))
    if unknown:
        raise PrivmlError(f"--param {', '.join(unknown)}: not a parameter of the pipeline "
                          f"(its parameters: {', '.join(declared)})")
    values = parse_parameters(definition, overrides)
    for step in job_steps(definition.get("Steps", [])):
        for problem in job_resource_problems(step, values, frozenset(overrides)):
            if problem.parameter in overrides:
                raise PrivmlError(f"--param {problem.parameter}: step {step.get('Name')}, {problem.field}: "
                                  f"{problem.message}")
    return {name: values[name] for name in overrides}
