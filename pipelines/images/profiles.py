"""Image profiles: what privml knows about each container image it supports for its jobs and its endpoint.

A profile (one JSON file in `profiles/`) describes an image as pip sees it — Python version, implementation,
ABI, platform — and what the image already holds, taken from the image's published Dockerfile and
requirements (each file cites them under `sources`). The wheelhouse is built and checked for those tags
(pipelines/wheelhouse.py); a profile whose Python cannot satisfy privml's `requires-python` is listed but
refused for use.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Literal

from packaging.specifiers import SpecifierSet
from packaging.version import Version

from privml.errors import PrivmlError

PROFILES_DIR = Path(__file__).with_name("profiles")
ROLES = ("processing", "training", "inference")
Kind = Literal["sagemaker-framework", "privml"]
# The oldest glibc a manylinux tag names (manylinux1 = glibc 2.5, PEP 600).
_OLDEST_GLIBC_MINOR = 5
_LEGACY_MANYLINUX = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}


@dataclass(frozen=True)
class ImageProfile:
    name: str
    description: str
    kind: Kind
    image: dict[str, str]
    roles: tuple[str, ...]
    python_version: str
    implementation: str
    abi: str
    arch: str
    libc_version: str
    base_image: str
    holds_privml: bool
    packages: dict[str, str] = field(default_factory=dict)
    sources: tuple[dict[str, Any], ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def python_tag(self) -> str:
        return f"{self.implementation}{self.python_version.replace('.', '')}"

    @property
    def platforms(self) -> list[str]:
        """Every platform tag a wheel may carry to install on this image, newest first (pip's --platform
        does not expand PEP 600 tags to older glibc versions itself)."""
        major, minor = (int(part) for part in self.libc_version.split(".")[:2])
        if major != 2:
            raise PrivmlError(f"profile {self.name}: glibc {self.libc_version} is not a glibc 2.x")
        tags = []
        for glibc_minor in range(minor, _OLDEST_GLIBC_MINOR - 1, -1):
            tags.append(f"manylinux_2_{glibc_minor}_{self.arch}")
            if glibc_minor in _LEGACY_MANYLINUX:
                tags.append(f"{_LEGACY_MANYLINUX[glibc_minor]}_{self.arch}")
        return tags

    def pip_target_options(self) -> list[str]:
        """pip's options that make it resolve for this image instead of the running interpreter."""
        options = ["--only-binary=:all:", "--python-version", self.python_version,
                   "--implementation", self.implementation, "--abi", self.abi]
        for platform in self.platforms:
            options += ["--platform", platform]
        return options

    def refusal(self, requires_python: str) -> str | None:
        """Why this image cannot run privml (its Python is outside requires-python), or None."""
        if requires_python and Version(self.python_version) not in SpecifierSet(requires_python):
            return (f"image profile {self.name} has Python {self.python_version}; privml requires Python "
                    f"{requires_python}")
        return None

    def uri(self, *, region: str, account: str, domain: str, role: str = "training",
            instance_type: str = "ml.m5.xlarge", tag: str | None = None) -> str:
        """The image URI in a region: stock images from sagemaker-core's registry (image_uri_config), the
        privml image from the user's own ECR repository."""
        if self.kind == "privml":
            return self.image["uri"].format(account=account, region=region, domain=domain,
                                            repository=self.image["repository"], tag=tag or _privml_version())
        from sagemaker.core import image_uris

        if self.image["framework"] == "spark":  # the registry has Spark images for processing only, per Python
            try:
                return image_uris.retrieve("spark", region, version=self.image["version"],
                                           py_version=self.image.get("py_version"), instance_type=instance_type,
                                           image_scope="processing")
            except ValueError as exc:
                raise PrivmlError(f"image profile {self.name}: the SageMaker SDK's image registry has no Spark "
                                  f"{self.image['version']} image in {region} ({exc})") from None
        try:
            return image_uris.retrieve(self.image["framework"], region, version=self.image["version"],
                                       instance_type=instance_type,
                                       # processing jobs run the framework's training image
                                       image_scope="inference" if role == "inference" else "training")
        except ValueError as exc:
            raise PrivmlError(f"image profile {self.name}: the SageMaker SDK's image registry has no "
                              f"{self.image['framework']} {self.image['version']} image in {region} ({exc})") from None

    @property
    def processors(self) -> tuple[str, ...]:
        """The processors the image is built for ("cpu", "gpu", ...): a stock image's from the SageMaker
        SDK's image registry, the privml image's from its profile (docker/Dockerfile builds for CPU)."""
        if self.kind == "privml":
            return tuple(self.image.get("processors", ("cpu",)))
        from sagemaker.core import image_uris

        found: set[str] = set()
        for scope in ("training", "inference", "processing"):
            versions = image_uris.config_for_framework(self.image["framework"]).get(scope, {}).get("versions", {})
            found.update(versions.get(self.image["version"], {}).get("processors", ()))
        return tuple(sorted(found)) or ("cpu",)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "python": self.python_version, "abi": self.abi,
                "implementation": self.implementation, "platforms": self.platforms, "holds_privml": self.holds_privml}


def _privml_version() -> str:
    from pipelines.packaging import read_project

    return read_project().version


def _from_file(path: Path) -> ImageProfile:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        python, platform = raw["python"], raw["platform"]
        profile = ImageProfile(
            name=raw["name"], description=raw["description"], kind=raw["kind"], image=dict(raw["image"]),
            roles=tuple(raw["roles"]), python_version=python["version"], implementation=python["implementation"],
            abi=python["abi"], arch=platform["arch"], libc_version=platform["libc_version"],
            base_image=platform["base_image"], holds_privml=bool(raw["holds_privml"]),
            packages=dict(raw.get("packages", {})), sources=tuple(raw.get("sources", ())),
            notes=tuple(raw.get("notes", ())),
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise PrivmlError(f"{path}: not a valid image profile ({type(exc).__name__}: {exc})") from None
    if profile.name != path.stem:
        raise PrivmlError(f"{path}: profile name {profile.name!r} differs from the file name")
    if profile.kind not in ("sagemaker-framework", "privml") or not set(profile.roles) <= set(ROLES):
        raise PrivmlError(f"{path}: unknown kind or role")
    return profile


@cache
def all_profiles() -> dict[str, ImageProfile]:
    return {path.stem: _from_file(path) for path in sorted(PROFILES_DIR.glob("*.json"))}


def get_profile(name: str, *, field_name: str = "images.profile") -> ImageProfile:
    profiles = all_profiles()
    if name not in profiles:
        raise PrivmlError(f"{field_name}: no image profile {name!r} (known: {', '.join(sorted(profiles))})")
    return profiles[name]
