"""Local credentials for the local endpoint's SageMaker runtime API (SigV4).

One access key pair per workspace, created on first use in `<workspace>/endpoint/credentials.json`
(mode 0600). They authenticate against the local endpoint only; they are not AWS credentials. With
PRIVML_KEYSTORE_PASSPHRASE set the file is sealed under it (privml/crypto/keystore.py `seal`), and a
plaintext file written before the passphrase was set is sealed on first read.

`privml credentials` hands them to AWS tools as a named profile in a config/credentials file pair of
privml's own (`<workspace>/aws/`, `write_profile`): the profile carries the region, the local endpoint URL
of the `sagemaker_runtime` service and the CA bundle, so boto3 and the SageMaker SDK v3 need only
AWS_CONFIG_FILE, AWS_SHARED_CREDENTIALS_FILE and AWS_PROFILE for the one command that calls the endpoint.
~/.aws and the shell's environment are left alone (exporting keys would override real AWS credentials
for the rest of the shell).
"""

from __future__ import annotations

import json
import os
import secrets
import string
from dataclasses import dataclass
from pathlib import Path

from privml.crypto.keystore import is_sealed, passphrase_from_env, seal, unseal
from privml.errors import PrivmlError
from privml.workspace import private_dir, workspace_dir

_PURPOSE = "endpoint-credentials"

PROFILE_NAME = "privml-local"
_KEY_ID_ALPHABET = string.ascii_uppercase + "234567"


@dataclass(frozen=True)
class LocalCredentials:
    access_key_id: str
    secret_access_key: str

    def __repr__(self) -> str:  # never print the secret by accident
        return f"LocalCredentials(access_key_id={self.access_key_id!r})"


def credentials_path(workspace: str | os.PathLike[str] | None = None) -> Path:
    return workspace_dir(workspace) / "endpoint" / "credentials.json"


def _generate() -> LocalCredentials:
    # Same shapes as AWS keys (20-char id, 40-char secret) so tools that validate the shape accept them.
    key_id = "PMLL" + "".join(secrets.choice(_KEY_ID_ALPHABET) for _ in range(16))
    return LocalCredentials(key_id, secrets.token_urlsafe(30)[:40])


def _document(creds: LocalCredentials, passphrase: str | None) -> bytes:
    plain = json.dumps({"aws_access_key_id": creds.access_key_id,
                        "aws_secret_access_key": creds.secret_access_key}).encode()
    return json.dumps(seal(plain, passphrase, _PURPOSE)).encode() if passphrase else plain


def _read(path: Path, passphrase: str | None) -> LocalCredentials:
    try:
        data = json.loads(path.read_text())
        sealed = is_sealed(data)
        if sealed:
            data = json.loads(unseal(data, passphrase, _PURPOSE, f"local endpoint credentials {path}"))
        creds = LocalCredentials(data["aws_access_key_id"], data["aws_secret_access_key"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise PrivmlError(f"local endpoint credentials file is unreadable: {path}") from exc
    if passphrase and not sealed:  # written before the passphrase was set: seal it now
        tmp = path.with_name(f"{path.name}.{os.getpid()}.seal")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(_document(creds, passphrase))
        os.replace(tmp, path)
    return creds


def load_or_create_credentials(workspace: str | os.PathLike[str] | None = None) -> LocalCredentials:
    path = credentials_path(workspace)
    passphrase = passphrase_from_env()
    if path.exists():
        return _read(path, passphrase)
    private_dir(path.parent)
    creds = _generate()
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(_document(creds, passphrase))
    try:
        os.link(tmp, path)  # first writer wins when two processes race to create the file
    except FileExistsError:
        os.unlink(tmp)
        return load_or_create_credentials(workspace)
    os.unlink(tmp)
    return creds


@dataclass(frozen=True)
class ProfileFiles:
    name: str
    config_file: Path
    credentials_file: Path

    def environment(self, ca_bundle: str) -> dict[str, str]:
        """The variables that point an AWS SDK at this profile (for one command, not a whole shell). The CA
        bundle is repeated from the profile because an AWS_CA_BUNDLE the shell already has would win."""
        return {"AWS_CONFIG_FILE": str(self.config_file), "AWS_SHARED_CREDENTIALS_FILE": str(self.credentials_file),
                "AWS_PROFILE": self.name, "AWS_CA_BUNDLE": ca_bundle}


def write_profile(creds: LocalCredentials, *, url: str, ca_bundle: str, region: str, name: str = PROFILE_NAME,
                  workspace: str | os.PathLike[str] | None = None) -> ProfileFiles:
    """Write the named profile to `<workspace>/aws/config` and `.../credentials` (0600, replaced whole)."""
    from privml.io.atomic import atomic_write_text

    if not name or any(c not in string.ascii_letters + string.digits + "-_." for c in name):
        raise PrivmlError("--profile: a profile name is letters, digits and -_. only")
    directory = private_dir(workspace_dir(workspace) / "aws")
    files = ProfileFiles(name, directory / "config", directory / "credentials")
    atomic_write_text(files.config_file, "\n".join([
        "# Written by `privml credentials`: the privml local endpoint only (not AWS). Regenerated on each run.",
        f"[profile {name}]",
        f"region = {region}",
        f"ca_bundle = {ca_bundle}",
        f"services = {name}",
        "",
        f"[services {name}]",
        "sagemaker_runtime =",
        f"  endpoint_url = {url}",
        "",
    ]))
    atomic_write_text(files.credentials_file, "\n".join([
        "# Written by `privml credentials`: valid for the privml local endpoint only, not for AWS.",
        f"[{name}]",
        f"aws_access_key_id = {creds.access_key_id}",
        f"aws_secret_access_key = {creds.secret_access_key}",
        "",
    ]))
    return files


def usage_text(files: ProfileFiles, *, url: str, ca_bundle: str, endpoint: str = "privml") -> str:
    """How to call the local endpoint through the profile: boto3, the SageMaker SDK v3, the aws CLI."""
    prefix = " ".join(f"{k}={v}" for k, v in files.environment(ca_bundle).items())
    return "\n".join([
        f"# Wrote profile {files.name} (the privml local endpoint only, not AWS) to privml's own files:",
        f"#   {files.config_file}",
        f"#   {files.credentials_file}",
        "# ~/.aws and your shell are untouched; prefix only the commands that call the endpoint:",
        "",
        "# boto3 (naming the profile in the code makes it win over keys exported in the shell):",
        f"{prefix} python your_script.py",
        f'#   boto3.Session(profile_name="{files.name}").client("sagemaker-runtime").invoke_endpoint(',
        f'#       EndpointName="{endpoint}", ContentType="text/csv", Body=open("rows.csv", "rb"))',
        "",
        "# SageMaker Python SDK v3 (sagemaker.core), which reads the endpoint URL and CA from these variables:",
        f"{prefix} AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME={url} python your_script.py",
        "#   from sagemaker.core.resources import Endpoint",
        f'#   Endpoint(endpoint_name="{endpoint}").invoke(body=open("rows.csv").read(), content_type="text/csv")',
        "",
        "# aws CLI:",
        f"{prefix} aws sagemaker-runtime invoke-endpoint --endpoint-name {endpoint} --content-type text/csv \\",
        "    --body fileb://rows.csv out.csv",
        "",
        "# (`privml credentials --env` prints export lines instead: they override real AWS credentials for",
        "# the rest of the shell.)",
    ])


def env_text(creds: LocalCredentials, *, url: str, ca_bundle: str, region: str) -> str:
    """Export lines, on request only (`--env`): they shadow any real AWS credentials in that shell."""
    return "\n".join([
        "# Local endpoint credentials (privml local endpoint only, not AWS). These override your real AWS",
        "# credentials for the rest of this shell: `unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY` afterwards.",
        f"export AWS_ACCESS_KEY_ID={creds.access_key_id}",
        f"export AWS_SECRET_ACCESS_KEY={creds.secret_access_key}",
        f"export AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME={url}",
        f"export AWS_CA_BUNDLE={ca_bundle}",
        f"# and pass a region to the client (the local endpoint accepts any), e.g. region_name=\"{region}\"",
    ])
