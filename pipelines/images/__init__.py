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

__all__ = ["ImageProfile", "RoleImage", "all_profiles", "ecr_domain", "get_profile", "require_usable", "role_images"]

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


def role_images(config: Any) -> dict[str, RoleImage]:
    """The image of every role as configured; an explicit URI is kept, otherwise the profile's URI."""
    out = {}
    for role in ("processing", "training", "inference"):
        field, choice = config.images.choice(role)
        profile = get_profile(choice.profile, field_name=field)
        if role not in profile.roles:
            raise PrivmlError(f"{field}: image profile {profile.name} does not serve the {role} role")
        instance_type = getattr(config.instances, _INSTANCE_FIELD[role]).type
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
