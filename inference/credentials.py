"""Local credentials for the local endpoint's SageMaker runtime API (SigV4).

One access key pair per workspace, created on first use in `<workspace>/endpoint/credentials.json`
(mode 0600). They authenticate against the local endpoint only; they are not AWS credentials. With
PRIVML_KEYSTORE_PASSPHRASE set the file is sealed under it (privml/crypto/keystore.py `seal`), and a
plaintext file written before the passphrase was set is sealed on first read.
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


def usage_text(creds: LocalCredentials, *, url: str, ca_bundle: str, region: str) -> str:
    """How to point boto3 at the local endpoint: environment variables or a named profile."""
    return "\n".join([
        "# Local endpoint credentials (valid for the privml local endpoint only, not for AWS).",
        "# Option 1: environment variables",
        f"export AWS_ACCESS_KEY_ID={creds.access_key_id}",
        f"export AWS_SECRET_ACCESS_KEY={creds.secret_access_key}",
        f"export AWS_DEFAULT_REGION={region}",
        "",
        f"# Option 2: a named profile (then AWS_PROFILE={PROFILE_NAME}); in ~/.aws/credentials:",
        f"[{PROFILE_NAME}]",
        f"aws_access_key_id = {creds.access_key_id}",
        f"aws_secret_access_key = {creds.secret_access_key}",
        "# and in ~/.aws/config:",
        f"[profile {PROFILE_NAME}]",
        f"region = {region}",
        "",
        "# Then, in Python:",
        f'#   boto3.client("sagemaker-runtime", endpoint_url="{url}", verify="{ca_bundle}")',
        '#     .invoke_endpoint(EndpointName="privml", ContentType="text/csv", Body=...)',
    ])
