"""The security controls a job's request declares, and how the local executor applies each of them.

- EnableNetworkIsolation — enforced: the job runs in its own network namespace (`unshare --net`, only
  loopback up) when the kernel allows unprivileged namespaces; always also a guard in the job's
  interpreter refusing non-loopback lookups and connections with a clear message.
- VolumeKmsKeyId — emulated: the job directory (the job's volume) is overwritten and deleted when the job
  ends, whatever the outcome; directories left by a killed run are wiped at the next start.
- output KmsKeyId — enforced: outputs go into the local object store encrypted under that key, which must
  exist in the local KMS.
- VpcConfig — recorded: subnets and security groups have no local meaning; with network isolation the job
  has no network at all.
- EnableInterContainerTrafficEncryption — recorded: the hosts of a local job exchange no traffic.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from privml.errors import KeyUnavailable, PrivmlError


@dataclass
class JobControls:
    network_isolation: bool = False
    volume_kms_key: str | None = None
    output_kms_key: str | None = None
    vpc: dict[str, list[str]] | None = None
    inter_container_encryption: bool = False
    # A step that may reach KMS and nothing else (the key-preparation step: on AWS in the VPC with only a
    # KMS interface endpoint). Locally the KMS is a file, so the job gets no network at all either.
    kms_only_network: bool = False
    applied: dict[str, str] = field(default_factory=dict)

    @property
    def no_network(self) -> bool:
        return self.network_isolation or self.kms_only_network

    def record(self) -> dict[str, str]:
        """What the run record says about each control: its value and how it was applied."""
        return dict(self.applied)


def controls_of(step_type: str, request: Mapping[str, Any]) -> JobControls:
    if step_type == "Processing":
        net = request.get("NetworkConfig") or {}
        return JobControls(
            network_isolation=bool(net.get("EnableNetworkIsolation")),
            volume_kms_key=(request.get("ProcessingResources", {}).get("ClusterConfig", {}).get("VolumeKmsKeyId")),
            output_kms_key=(request.get("ProcessingOutputConfig") or {}).get("KmsKeyId"),
            vpc=net.get("VpcConfig"),
            inter_container_encryption=bool(net.get("EnableInterContainerTrafficEncryption")),
        )
    if step_type == "Training":
        return JobControls(
            network_isolation=bool(request.get("EnableNetworkIsolation")),
            volume_kms_key=(request.get("ResourceConfig") or {}).get("VolumeKmsKeyId"),
            output_kms_key=(request.get("OutputDataConfig") or {}).get("KmsKeyId"),
            vpc=request.get("VpcConfig"),
            inter_container_encryption=bool(request.get("EnableInterContainerTrafficEncryption")),
        )
    raise PrivmlError(f"no job controls for step type {step_type}")


def local_key_ref(ref: str) -> str:
    """An AWS-style key reference (ARN, alias ARN, alias, id) as the local KMS names it."""
    if ref.startswith("arn:") and ":alias/" in ref:
        return "alias/" + ref.split(":alias/", 1)[1]
    if ref.startswith("arn:") and ":key/" in ref:
        return ref.split(":key/", 1)[1]
    return ref


def resolve_output_key(kms: Any, ref: str | None, step: str) -> str:
    """The local key id for the output key a step names; a missing or unknown key is an error."""
    if not ref:
        raise KeyUnavailable(f"step {step}: the definition names no output KMS key (KmsKeyId); "
                             "local mode encrypts every output under the key the definition names")
    try:
        return str(kms.resolve(local_key_ref(ref)))
    except KeyUnavailable as exc:
        raise KeyUnavailable(f"step {step}: output KMS key {ref} is not in the local key store ({exc})") from None


# Inside the job's own user + mount namespace: a private /opt with /opt/ml bound to the job directory,
# so container paths are real paths for the job, as in a container; then exec the interpreter.
# "$1", when not empty, is a colon-separated list of the source checkout's package directories to hide under
# empty read-only tmpfs mounts, so that not even a child interpreter the job starts (which the in-interpreter
# guard does not reach) imports privml from the checkout. Only the packages are hidden, not the whole
# checkout: a virtual environment inside it (`.venv`, as CI makes) must stay usable.
_MOUNT_SCRIPT = (
    'mount -t tmpfs -o mode=755 privml-opt /opt && mkdir /opt/ml && mount --bind "$0" /opt/ml && '
    '{ [ -z "$1" ] || { IFS=:; for d in $1; do mount -t tmpfs -o ro,mode=555 privml-hidden "$d" || exit 1; done; }; }'
    ' && shift && exec "$@"'
)
# The source checkout this code runs from, when it is one (an editable install); its packages are hidden.
SOURCE_CHECKOUT = Path(__file__).resolve().parents[2]
SOURCE_PACKAGES = ("privml", "pipelines", "inference", "training", "processing")


@functools.cache
def namespaces_available() -> bool:
    """Whether unprivileged user, mount and network namespaces work here (`unshare`), with a bind mount."""
    exe, sh = shutil.which("unshare"), shutil.which("sh")
    if not exe or not sh or not Path("/opt").is_dir() or os.environ.get("PRIVML_LOCAL_NO_NAMESPACES"):
        return False
    probe = Path(tempfile.mkdtemp(prefix="privml-ns-probe-"))
    try:
        proc = subprocess.run([exe, "--mount", "--net", "--map-root-user", "--", sh, "-c", _MOUNT_SCRIPT,
                               str(probe), "", "true"], capture_output=True, timeout=10)
        return proc.returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False
    finally:
        shutil.rmtree(probe, ignore_errors=True)


def _checkout_to_hide(opt_ml: Path) -> str:
    root = SOURCE_CHECKOUT
    if not (root / "pyproject.toml").is_file():
        return ""  # an installed package: nothing of the checkout to hide
    job = opt_ml.resolve()
    packages = [root / name for name in SOURCE_PACKAGES if (root / name).is_dir()]
    return ":".join(str(p) for p in packages if p != job and p not in job.parents)


def sandbox_prefix(controls: JobControls, opt_ml: Path, mounted: bool) -> list[str]:
    """Command prefix putting the job in its namespaces, and the record of how each control applies."""
    hide = _checkout_to_hide(opt_ml) if mounted else ""
    if mounted:
        controls.applied["filesystem"] = (
            "container layout: /opt/ml bind-mounted from the job directory in a private mount namespace; "
            + ("the source checkout's packages hidden; " if hide else "")
            + "reads outside what was shipped refused")
    else:
        controls.applied["filesystem"] = ("container paths in arguments and environment mapped into the job "
                                          "directory; reads outside what was shipped refused")
    isolation = controls.no_network
    if controls.kms_only_network:
        controls.applied["network_isolation"] = (
            "off as the definition asks (on AWS: the VPC, whose only AWS endpoint for the job is KMS); locally "
            + ("its own network namespace (no interface up) + " if mounted else "")
            + "the interpreter audit hook refusing non-loopback connections: the local KMS is a file, so the job "
            "needs no network")
    elif not isolation:
        controls.applied["network_isolation"] = "off (not requested)"
    elif mounted:
        controls.applied["network_isolation"] = (
            "enforced: own network namespace (no interface up) + interpreter audit hook refusing "
            "non-loopback connections"
        )
    else:
        controls.applied["network_isolation"] = (
            "emulated: interpreter audit hook refusing non-loopback lookups and connections "
            "(namespaces unavailable here)"
        )
    if not mounted:
        return []
    return [str(shutil.which("unshare")), "--mount", "--map-root-user", *(["--net"] if isolation else []), "--",
            str(shutil.which("sh")), "-c", _MOUNT_SCRIPT, str(opt_ml), hide]


def record_passive_controls(controls: JobControls) -> None:
    vpc = controls.vpc or {}
    if vpc:
        controls.applied["vpc"] = (
            f"recorded: {len(vpc.get('Subnets', []))} subnet(s), {len(vpc.get('SecurityGroupIds', []))} "
            "security group(s); no local meaning" + ("; the job has no network" if controls.network_isolation else "")
        )
    else:
        controls.applied["vpc"] = "none requested"
    controls.applied["inter_container_encryption"] = (
        "recorded: requested; local hosts exchange no traffic" if controls.inter_container_encryption
        else "not requested"
    )
    controls.applied["volume_kms"] = (
        f"emulated for {controls.volume_kms_key}: job directory overwritten and deleted on exit"
        if controls.volume_kms_key else "no volume key requested; job directory still wiped on exit"
    )


def wipe_tree(path: Path, code_only: tuple[str, ...] = ()) -> None:
    """Overwrite every regular file with random bytes, then delete the tree. Directories named in
    `code_only` (holding only shipped code, no data) are deleted without the overwrite.

    On copy-on-write or flash storage an overwrite may not reach the old blocks; the wipe is the best a
    user-space process can do, and it is why local mode keeps job directories short-lived."""
    if not path.exists():
        return
    for dirpath, dirs, files in os.walk(path, followlinks=False):
        dirs[:] = [d for d in dirs if not any((Path(dirpath) / d).match(p) for p in code_only)]
        for name in files:
            file = Path(dirpath) / name
            try:
                if file.is_symlink() or not file.is_file():
                    continue
                size = file.stat().st_size
                with open(file, "r+b", buffering=0) as fh:
                    remaining = size
                    while remaining > 0:
                        n = min(remaining, 1 << 20)
                        fh.write(os.urandom(n))
                        remaining -= n
                    os.fsync(fh.fileno())
            except OSError:
                continue  # unreadable (e.g. mode changed by the job): deletion below still applies
    shutil.rmtree(path, ignore_errors=True)
