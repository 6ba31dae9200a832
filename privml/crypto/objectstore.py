"""Object stores with the same methods: a local one in the workspace and S3.

URIs are `s3://bucket/key` in both. Every object is encrypted under a named key: the per-put key, else
the bucket's default key (as S3 default encryption with SSE-KMS); with neither, a put is refused —
privml never stores plaintext.

Local: an object is one AWS Encryption SDK message at <root>/<bucket>/<key segments>.obj, written to a
temporary file and renamed (a concurrent reader or a crash sees the old object or the whole new one).
Bucket, key, size and user metadata are in the message's encryption context, so they are authenticated
(an object copied to another key fails to open) and `head` reads them without decrypting. Like S3
metadata they are not secret: never put identifying values in metadata.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlparse

from privml.crypto import envelope
from privml.crypto.local_kms import LocalKms
from privml.errors import PrivmlError
from privml.io.atomic import atomic_output, atomic_write_bytes
from privml.workspace import private_dir

_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_SUFFIX = ".obj"
_CTX_BUCKET, _CTX_KEY, _CTX_SIZE, _CTX_META = "privml:bucket", "privml:key", "privml:size", "privml:meta:"


@dataclass(frozen=True)
class ObjectInfo:
    uri: str
    size: int
    key_id: str
    metadata: dict[str, str] = field(default_factory=dict)


def parse_uri(uri: str, *, allow_empty_key: bool = False) -> tuple[str, str]:
    parsed = urlparse(uri)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise PrivmlError(f"object URI must look like s3://bucket/key, got {uri!r}")
    bucket, key = parsed.netloc, uri.split("://", 1)[1][len(parsed.netloc) :].removeprefix("/")
    if not _BUCKET_RE.match(bucket):
        raise PrivmlError(f"invalid bucket name {bucket!r}")
    if not key and not allow_empty_key:
        raise PrivmlError(f"object URI {uri!r} has no key")
    if len(key.encode("utf-8")) > 1024:
        raise PrivmlError("object key longer than 1024 bytes")
    return bucket, key


def _check_metadata(metadata: Mapping[str, str] | None) -> dict[str, str]:
    result = {}
    for k, v in (metadata or {}).items():
        if not isinstance(k, str) or not isinstance(v, str) or not re.match(r"^[A-Za-z0-9._-]{1,128}$", k):
            raise PrivmlError(f"metadata keys must be short [A-Za-z0-9._-] strings with string values ({k!r})")
        result[k.lower()] = v
    return result


class LocalObjectStore:
    """`s3://bucket/key` mapped under `root` (normally <workspace>/objects), every object encrypted."""

    def __init__(self, root: Path, kms: LocalKms) -> None:
        self.root = Path(root)
        self.kms = kms
        private_dir(self.root)

    @classmethod
    def open(cls, workspace: Path | None = None) -> LocalObjectStore:
        from privml.workspace import workspace_dir

        ws = workspace_dir(workspace)
        return cls(ws / "objects", LocalKms.open(ws))

    def __repr__(self) -> str:
        return f"LocalObjectStore({str(self.root)!r})"

    # -- layout ------------------------------------------------------------------------------------
    def _path(self, uri: str) -> tuple[str, str, Path]:
        bucket, key = parse_uri(uri)
        segments = key.split("/")
        if any(seg in ("", ".", "..") for seg in segments):
            raise PrivmlError(f"object key in {uri!r} has an empty, '.' or '..' path segment")
        quoted = [quote(seg, safe="") for seg in segments]
        if any(len(seg) + len(_SUFFIX) > 255 for seg in quoted):
            raise PrivmlError(f"object key in {uri!r} has a path segment that is too long")
        quoted[-1] += _SUFFIX
        return bucket, key, self.root.joinpath(bucket, *quoted)

    def _bucket_config(self, bucket: str) -> Path:
        return self.root / bucket / ".bucket.json"

    def set_bucket_key(self, bucket: str, key_id: str) -> None:
        parse_uri(f"s3://{bucket}/x")
        resolved = self.kms.key_arn(key_id)
        path = self._bucket_config(bucket)
        private_dir(path.parent)
        with atomic_output(path) as fd:
            os.write(fd, json.dumps({"default_key_id": resolved}).encode())

    def bucket_key(self, bucket: str) -> str | None:
        path = self._bucket_config(bucket)
        if not path.exists():
            return None
        return json.loads(path.read_text())["default_key_id"]

    def _key_for(self, bucket: str, key_id: str | None) -> str:
        chosen = key_id or self.bucket_key(bucket)
        if not chosen:
            raise PrivmlError(
                f"bucket {bucket!r} has no default key and no key was given: privml never stores plaintext "
                "(set one with set_bucket_key or pass key_id)"
            )
        return chosen

    def _context(self, bucket: str, key: str, size: int, metadata: Mapping[str, str] | None) -> dict[str, str]:
        ctx = {_CTX_BUCKET: bucket, _CTX_KEY: key, _CTX_SIZE: str(size)}
        ctx.update({_CTX_META + k: v for k, v in _check_metadata(metadata).items()})
        return ctx

    # -- operations --------------------------------------------------------------------------------
    def put_bytes(
        self, uri: str, data: bytes, *, key_id: str | None = None, metadata: Mapping[str, str] | None = None
    ) -> None:
        bucket, key, path = self._path(uri)
        ctx = self._context(bucket, key, len(data), metadata)
        message = envelope.encrypt(data, provider=self.kms, key_id=self._key_for(bucket, key_id), context=ctx)
        private_dir(path.parent)
        atomic_write_bytes(path, message)

    def put_file(
        self,
        uri: str,
        path: str | os.PathLike[str],
        *,
        key_id: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        bucket, key, dst = self._path(uri)
        src = Path(path)
        try:
            size = src.stat().st_size
        except FileNotFoundError:
            raise PrivmlError(f"input file not found: {src}") from None
        ctx = self._context(bucket, key, size, metadata)
        private_dir(dst.parent)
        # Encrypt beside the object, check, then rename: the old version stays until the new one is whole.
        staged = dst.with_name(f".{dst.name}.{secrets.token_hex(6)}.put")
        try:
            envelope.encrypt_file(src, staged, provider=self.kms, key_id=self._key_for(bucket, key_id), context=ctx)
            if src.stat().st_size != size:
                raise PrivmlError(f"input file {src} changed while it was being stored")
            os.replace(staged, dst)
        finally:
            staged.unlink(missing_ok=True)

    def _required(self, uri: str) -> tuple[Path, dict[str, str]]:
        bucket, key, path = self._path(uri)
        if not path.is_file():
            raise PrivmlError(f"no such object: {uri}")
        return path, {_CTX_BUCKET: bucket, _CTX_KEY: key}

    def get_bytes(self, uri: str) -> bytes:
        path, required = self._required(uri)
        return envelope.decrypt(path.read_bytes(), provider=self.kms, required_context=required)

    def get_file(self, uri: str, path: str | os.PathLike[str]) -> None:
        src, required = self._required(uri)
        envelope.decrypt_file(src, path, provider=self.kms, required_context=required)

    def get_stream(self, uri: str, fd: int) -> None:
        """Decrypt to an open descriptor (stdout, a pipe), frame by frame (envelope.decrypt_to_stream)."""
        src, required = self._required(uri)
        envelope.decrypt_to_stream(src, fd, provider=self.kms, required_context=required)

    def head(self, uri: str) -> ObjectInfo:
        path, required = self._required(uri)
        header = envelope.read_header(path)
        ctx = header.context
        if any(ctx.get(k) != v for k, v in required.items()):
            raise PrivmlError(f"object {uri} does not belong at this key (moved or tampered)")
        meta = {k.removeprefix(_CTX_META): v for k, v in ctx.items() if k.startswith(_CTX_META)}
        return ObjectInfo(uri, int(ctx.get(_CTX_SIZE, "0")), header.key_ids[0], meta)

    def list(self, prefix_uri: str) -> list[str]:
        bucket, prefix = parse_uri(prefix_uri, allow_empty_key=True)
        base = self.root / bucket
        found = []
        for dirpath, _dirs, files in os.walk(base):
            rel = Path(dirpath).relative_to(base).parts
            for name in files:
                if not name.endswith(_SUFFIX) or name.startswith("."):
                    continue
                key = "/".join(unquote(p) for p in (*rel, name.removesuffix(_SUFFIX)))
                if key.startswith(prefix):
                    found.append(f"s3://{bucket}/{key}")
        return sorted(found)

    def delete(self, uri: str) -> None:
        _bucket, _key, path = self._path(uri)
        path.unlink(missing_ok=True)  # like S3: deleting a missing object is not an error


class S3ObjectStore:
    """S3 through a boto3 client: every put carries ServerSideEncryption=aws:kms and the key id.

    The client must talk HTTPS (TLS); plain HTTP is allowed only to a loopback test endpoint."""

    def __init__(self, s3_client: Any, *, default_key_id: str | None = None) -> None:
        self._s3 = s3_client
        endpoint = urlparse(s3_client.meta.endpoint_url or "")
        if endpoint.scheme != "https" and endpoint.hostname not in ("127.0.0.1", "localhost", "::1"):
            raise PrivmlError(f"S3 endpoint {s3_client.meta.endpoint_url} is not HTTPS")
        self._default_key = default_key_id
        self._bucket_keys: dict[str, str] = {}

    def _client_error(self, exc: Exception, uri: str) -> PrivmlError:
        code = getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__)
        if code in ("404", "NoSuchKey", "NotFound"):
            return PrivmlError(f"no such object: {uri}")
        if code == "NoSuchBucket":
            return PrivmlError(f"no such bucket in {uri}")
        return PrivmlError(f"S3 request for {uri} failed: {code}")

    @property
    def _errors(self) -> tuple[type[Exception], ...]:
        from botocore.exceptions import BotoCoreError, ClientError

        return (ClientError, BotoCoreError)

    def set_bucket_key(self, bucket: str, key_id: str) -> None:
        """Default SSE-KMS encryption for the bucket (with an S3 Bucket Key to cut KMS calls)."""
        try:
            self._s3.put_bucket_encryption(
                Bucket=bucket,
                ServerSideEncryptionConfiguration={
                    "Rules": [
                        {
                            "ApplyServerSideEncryptionByDefault": {
                                "SSEAlgorithm": "aws:kms",
                                "KMSMasterKeyID": key_id,
                            },
                            "BucketKeyEnabled": True,
                        }
                    ]
                },
            )
        except self._errors as exc:
            raise self._client_error(exc, f"s3://{bucket}") from None
        self._bucket_keys[bucket] = key_id

    def _key_for(self, bucket: str, key_id: str | None) -> str:
        chosen = key_id or self._bucket_keys.get(bucket) or self._default_key
        if not chosen:
            try:
                rules = self._s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
                default = rules[0]["ApplyServerSideEncryptionByDefault"]
                if default.get("SSEAlgorithm") == "aws:kms" and default.get("KMSMasterKeyID"):
                    chosen = default["KMSMasterKeyID"]
            except (*self._errors, KeyError, IndexError):
                chosen = None
        if not chosen:
            raise PrivmlError(
                f"bucket {bucket!r} has no SSE-KMS default key and no key was given: privml never stores plaintext"
            )
        self._bucket_keys.setdefault(bucket, chosen)
        return chosen

    def _put_args(self, bucket: str, key_id: str | None, metadata: Mapping[str, str] | None) -> dict[str, Any]:
        return {
            "ServerSideEncryption": "aws:kms",
            "SSEKMSKeyId": self._key_for(bucket, key_id),
            "Metadata": _check_metadata(metadata),
        }

    def put_bytes(
        self, uri: str, data: bytes, *, key_id: str | None = None, metadata: Mapping[str, str] | None = None
    ) -> None:
        bucket, key = parse_uri(uri)
        try:
            self._s3.put_object(Bucket=bucket, Key=key, Body=data, **self._put_args(bucket, key_id, metadata))
        except self._errors as exc:
            raise self._client_error(exc, uri) from None

    def put_file(
        self,
        uri: str,
        path: str | os.PathLike[str],
        *,
        key_id: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        bucket, key = parse_uri(uri)
        if not Path(path).is_file():
            raise PrivmlError(f"input file not found: {path}")
        try:  # multipart for big files; S3 makes the object visible only when complete
            self._s3.upload_file(str(path), bucket, key, ExtraArgs=self._put_args(bucket, key_id, metadata))
        except self._errors as exc:
            raise self._client_error(exc, uri) from None

    def get_bytes(self, uri: str) -> bytes:
        bucket, key = parse_uri(uri)
        try:
            return self._s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        except self._errors as exc:
            raise self._client_error(exc, uri) from None

    def get_file(self, uri: str, path: str | os.PathLike[str]) -> None:
        bucket, key = parse_uri(uri)
        try:
            with atomic_output(Path(path)) as fd, os.fdopen(os.dup(fd), "wb") as out:
                self._s3.download_fileobj(bucket, key, out)
        except self._errors as exc:
            raise self._client_error(exc, uri) from None

    def head(self, uri: str) -> ObjectInfo:
        bucket, key = parse_uri(uri)
        try:
            resp = self._s3.head_object(Bucket=bucket, Key=key)
        except self._errors as exc:
            raise self._client_error(exc, uri) from None
        return ObjectInfo(uri, int(resp["ContentLength"]), resp.get("SSEKMSKeyId", ""), dict(resp.get("Metadata", {})))

    def list(self, prefix_uri: str) -> list[str]:
        bucket, prefix = parse_uri(prefix_uri, allow_empty_key=True)
        found = []
        try:
            for page in self._s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
                found.extend(f"s3://{bucket}/{obj['Key']}" for obj in page.get("Contents", []))
        except self._errors as exc:
            raise self._client_error(exc, prefix_uri) from None
        return sorted(found)

    def delete(self, uri: str) -> None:
        bucket, key = parse_uri(uri)
        try:
            self._s3.delete_object(Bucket=bucket, Key=key)
        except self._errors as exc:
            raise self._client_error(exc, uri) from None
