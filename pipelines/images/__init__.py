"""Which image each role (processing, training, inference) runs, by image profile, and whether it can run privml.

    profiles    ImageProfile: one checked-in JSON file per supported image (profiles/*.json)
    dockerimage the build and push commands of the privml image (`privml image`)
    wheelhouse  (pipelines/wheelhouse.py) builds and proves the dependencies for a profile
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pipelines.images.profiles import ROLES, ImageProfile, all_profiles, get_profile
from privml.errors import PrivmlError

__all__ = ["ImageProfile", "RoleImage", "all_profiles", "ecr_domain", "get_profile", "instance_processor",
           "require_usable", "role_images"]

_INSTANCE_FIELD = {"processing": "processing", "training": "training", "inference": "endpoint"}


@dataclass(frozen=True)
class RoleImage:
    role: str
    field: str  # the config field that chose it: images.profile or images.<role>
    profile: ImageProfile
    uri: str

    def to_dict(self) -> dict[str, Any]:
        return {"role": self.role, "field": self.field, "profile": self.profile.name, "uri": self.uri}


def ecr_domain(partition: str) -> str:
    return "amazonaws.com.cn" if partition == "aws-cn" else "amazonaws.com"


# What the SageMaker SDK's image registry calls the processor of an instance family (image_uris._processor):
# inf* Inferentia, trn* Trainium, g* and p* GPU, every other family CPU.
_PROCESSOR_NAMES = {"cpu": "CPU", "gpu": "GPU", "inf": "Inferentia", "trn": "Trainium"}


def instance_processor(instance_type: str) -> str:
    """`ml.g4dn.xlarge` → "gpu", as the SDK's image registry classifies an instance type."""
    family = instance_type.split(".")[1] if instance_type.count(".") == 2 else instance_type
    if family.startswith("inf"):
        return "inf"
    if family.startswith("trn"):
        return "trn"
    return "gpu" if family[:1] in ("g", "p") else "cpu"


def _check_processor(profile: ImageProfile, field: str, role: str, instance_field: str, instance_type: str) -> None:
    """An image built for CPU cannot serve a GPU instance type (the registry has no such image, and an
    explicit URI would run without its accelerator): refuse naming both fields, before any lookup."""
    processor = instance_processor(instance_type)
    if processor in profile.processors:
        return
    kind = _PROCESSOR_NAMES[processor]
    builds = ", ".join(_PROCESSOR_NAMES.get(p, p) for p in profile.processors)
    raise PrivmlError(f"{instance_field}: {instance_type} is a {kind} instance type, and {field}: image profile "
                      f"{profile.name} has no {kind} build ({builds} only) for the {role} role; choose a CPU "
                      f"instance type for {instance_field} (e.g. ml.m5.xlarge)")


def role_images(config: Any) -> dict[str, RoleImage]:
    """The image of every role as configured; an explicit URI is kept, otherwise the profile's URI."""
    out = {}
    for role in ("processing", "training", "inference"):
        field, choice = config.images.choice(role)
        profile = get_profile(choice.profile, field_name=field)
        if role not in profile.roles:
            raise PrivmlError(f"{field}: image profile {profile.name} does not serve the {role} role")
        instance_type = getattr(config.instances, _INSTANCE_FIELD[role]).type
        _check_processor(profile, field, role, f"instances.{_INSTANCE_FIELD[role]}.type", instance_type)
        uri = choice.uri or profile.uri(region=config.region, account=config.account_id,
                                        domain=ecr_domain(config.partition), role=role,
                                        instance_type=instance_type)
        out[role] = RoleImage(role, field, profile, uri)
    return out


def require_usable(config: Any, roles: tuple[str, ...] = ROLES) -> dict[str, RoleImage]:
    """The roles' images, refusing (exit 2, naming the field) any whose Python cannot satisfy privml."""
    from pipelines.packaging import read_project

    requires_python = read_project().requires_python
    chosen = role_images(config)
    for role in roles:
        reason = chosen[role].profile.refusal(requires_python)
        if reason:
            raise PrivmlError(f"{chosen[role].field}: {reason}; the {role} image cannot import privml "
                              f"(supported: {', '.join(usable_profile_names())})")
    return {role: chosen[role] for role in roles}


def usable_profile_names() -> list[str]:
    from pipelines.packaging import read_project

    requires_python = read_project().requires_python
    return [name for name, profile in sorted(all_profiles().items()) if profile.refusal(requires_python) is None]
