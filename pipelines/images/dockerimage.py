"""The privml image: the commands that build it from docker/Dockerfile and push it to your account's ECR.

Nothing here runs docker or calls AWS: `privml image` prints the commands for the account and region of the
config (placeholders without one) and the `images:` entry that makes the pipeline use the pushed image.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Any

from pipelines.images import ecr_domain, get_profile
from pipelines.packaging import REPO_ROOT, read_project

DOCKERFILE = REPO_ROOT / "docker" / "Dockerfile"
WHEELHOUSE_IN_CONTEXT = "docker/wheelhouse"  # the Dockerfile installs only from here (a bind mount)


@dataclass(frozen=True)
class ImagePlan:
    account: str
    region: str
    registry: str
    uri: str
    commands: list[str]
    config_entry: str

    def to_dict(self) -> dict[str, Any]:
        return {"account": self.account, "region": self.region, "registry": self.registry, "uri": self.uri,
                "commands": self.commands, "config_entry": self.config_entry}


def plan(config: Any | None, *, tag: str | None = None) -> ImagePlan:
    """Build and push commands for the privml image (profile `privml`) in the config's account and region."""
    profile = get_profile("privml")
    tag = tag or read_project().version
    if config is None:
        account, region, domain = "<ACCOUNT_ID>", "<REGION>", "amazonaws.com"
    else:
        account, region, domain = config.account_id, config.region, ecr_domain(config.partition)
    registry = f"{account}.dkr.ecr.{region}.{domain}"
    # The repository encrypted under the config's data key (a named key), not an AWS-owned one.
    encryption = "encryptionType=KMS" + (f",kmsKey={config.key_arn('data')}" if config is not None else "")
    repository = profile.image["repository"]
    uri = profile.uri(region=region, account=account, domain=domain, tag=tag)
    local = f"{repository}:{tag}"
    platform = {"x86_64": "linux/amd64", "aarch64": "linux/arm64"}[profile.arch]
    quoted = shlex.quote
    commands = [
        f"privml wheelhouse --profile {profile.name} -o {WHEELHOUSE_IN_CONTEXT}",
        f"aws ecr create-repository --region {quoted(region)} --repository-name {repository} "
        f"--image-scanning-configuration scanOnPush=true --encryption-configuration {quoted(encryption)} "
        "--image-tag-mutability IMMUTABLE",
        f"aws ecr get-login-password --region {quoted(region)} | docker login --username AWS --password-stdin "
        f"{quoted(registry)}",
        f"DOCKER_BUILDKIT=1 docker build --platform {platform} -f docker/Dockerfile -t {local} .",
        f"docker tag {local} {quoted(uri)}",
        f"docker push {quoted(uri)}",
    ]
    entry = f"images:\n  profile: {profile.name}"
    if tag != read_project().version:
        entry += f"\n  processing: {{profile: {profile.name}, uri: {uri}}}" \
                 f"\n  training: {{profile: {profile.name}, uri: {uri}}}" \
                 f"\n  inference: {{profile: {profile.name}, uri: {uri}}}"
    entry += "\ncode:\n  wheelhouse: null   # the image holds privml's dependencies"
    return ImagePlan(account, region, registry, uri, commands, entry)
