"""The local KMS key store file: JSON at <workspace>/kms/keystore.json, mode 0600, optionally sealed
under a passphrase (scrypt → AES-256-GCM), written atomically (temp file + rename) under a file lock so
that concurrent processes (local jobs run as subprocesses) never see or write half a store."""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from privml.errors import KeyUnavailable
from privml.workspace import private_dir

FORMAT = "privml-keystore/1"
PASSPHRASE_ENV = "PRIVML_KEYSTORE_PASSPHRASE"  # noqa: S105 (a variable name, not a secret)
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 1 << 15, 8, 1
_AAD = FORMAT.encode()


def b64e(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def b64d(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


def empty_store() -> dict[str, Any]:
    return {"keys": {}, "aliases": {}}


class KeyStoreFile:
    """Reads and writes one key store file; knows nothing about what a key is."""

    def __init__(self, path: Path, passphrase: str | None) -> None:
        self.path = path
        self.passphrase = passphrase
        self._kdf_cache: dict[tuple[bytes, int, int, int], bytes] = {}
        self._salt: bytes | None = None

    @property
    def lock_path(self) -> Path:
        return self.path.with_name(".keystore.lock")

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        private_dir(self.path.parent)
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def signature(self) -> tuple[int, int, int] | None:
        """Changes whenever the file is replaced; used to skip needless re-reads."""
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def check_permissions(self) -> None:
        st = self.path.stat()
        if st.st_mode & 0o077:
            raise KeyUnavailable(
                f"key store {self.path} has mode {stat.S_IMODE(st.st_mode):04o}; it must be 0600 "
                f"(run: chmod 600 {self.path})"
            )
        if st.st_uid != os.getuid():
            raise KeyUnavailable(f"key store {self.path} is owned by another user")

    def exists(self) -> bool:
        return self.path.exists()

    def load(self) -> dict[str, Any]:
        self.check_permissions()
        try:
            doc = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise KeyUnavailable(f"key store {self.path} is unreadable or corrupt") from exc
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise KeyUnavailable(f"key store {self.path} is not a privml key store ({FORMAT})")
        sealed = doc.get("sealed")
        if sealed is None:
            if self.passphrase:
                raise KeyUnavailable(f"key store {self.path} is not passphrase-protected but a passphrase was given")
            return {"keys": doc.get("keys", {}), "aliases": doc.get("aliases", {})}
        if not self.passphrase:
            raise KeyUnavailable(
                f"key store {self.path} is passphrase-protected: set {PASSPHRASE_ENV} or pass a passphrase"
            )
        try:
            salt = b64d(sealed["salt"])
            key = self._derive(salt, int(sealed["n"]), int(sealed["r"]), int(sealed["p"]))
            body = AESGCM(key).decrypt(b64d(sealed["nonce"]), b64d(sealed["ciphertext"]), _AAD)
        except InvalidTag:
            raise KeyUnavailable(f"wrong passphrase for key store {self.path}") from None
        except (KeyError, ValueError, TypeError) as exc:
            raise KeyUnavailable(f"key store {self.path} is corrupt") from exc
        self._salt = salt
        return json.loads(body)

    def save(self, store: dict[str, Any]) -> None:
        doc: dict[str, Any] = {"format": FORMAT}
        if self.passphrase:
            salt = self._salt or os.urandom(16)
            self._salt = salt
            key = self._derive(salt, _SCRYPT_N, _SCRYPT_R, _SCRYPT_P)
            nonce = os.urandom(12)
            body = json.dumps(store, sort_keys=True).encode()
            doc["sealed"] = {
                "kdf": "scrypt",
                "n": _SCRYPT_N,
                "r": _SCRYPT_R,
                "p": _SCRYPT_P,
                "salt": b64e(salt),
                "nonce": b64e(nonce),
                "ciphertext": b64e(AESGCM(key).encrypt(nonce, body, _AAD)),
            }
        else:
            doc.update(store)
        data = json.dumps(doc, indent=1, sort_keys=True).encode()
        private_dir(self.path.parent)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.fchmod(fd, 0o600)
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.path)

    def change_passphrase(self, new: str | None) -> None:
        self.passphrase = new or None
        self._salt = None
        self._kdf_cache.clear()

    def _derive(self, salt: bytes, n: int, r: int, p: int) -> bytes:
        cache_key = (salt, n, r, p)
        if cache_key not in self._kdf_cache:
            assert self.passphrase is not None
            kdf = Scrypt(salt=salt, length=32, n=n, r=r, p=p)
            self._kdf_cache[cache_key] = kdf.derive(self.passphrase.encode("utf-8"))
        return self._kdf_cache[cache_key]


# --------------------------------------------------------------------------------------------------
# other workspace secrets (the local endpoint's SigV4 secret), sealed under the same passphrase

SEALED_FORMAT = "privml-sealed/1"


def passphrase_from_env() -> str | None:
    return os.environ.get(PASSPHRASE_ENV) or None


def seal(data: bytes, passphrase: str, purpose: str) -> dict[str, Any]:
    """`data` sealed under the passphrase (scrypt → AES-256-GCM); `purpose` is bound as associated data,
    so a sealed document cannot be passed off as another kind."""
    salt, nonce = os.urandom(16), os.urandom(12)
    key = Scrypt(salt=salt, length=32, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P).derive(passphrase.encode("utf-8"))
    return {"format": SEALED_FORMAT, "purpose": purpose, "kdf": "scrypt", "n": _SCRYPT_N, "r": _SCRYPT_R,
            "p": _SCRYPT_P, "salt": b64e(salt), "nonce": b64e(nonce),
            "ciphertext": b64e(AESGCM(key).encrypt(nonce, data, f"{SEALED_FORMAT}:{purpose}".encode()))}


def is_sealed(doc: Any) -> bool:
    return isinstance(doc, dict) and doc.get("format") == SEALED_FORMAT


def unseal(doc: dict[str, Any], passphrase: str | None, purpose: str, what: str) -> bytes:
    """The data `seal` sealed; KeyUnavailable without the passphrase, with a wrong one, or on tampering."""
    if not passphrase:
        raise KeyUnavailable(f"{what} is passphrase-protected: set {PASSPHRASE_ENV}")
    try:
        n, r, p = int(doc["n"]), int(doc["r"]), int(doc["p"])
        if n > (1 << 20) or r > 32 or p > 16:  # a tampered file must not make us burn memory
            raise ValueError
        key = Scrypt(salt=b64d(doc["salt"]), length=32, n=n, r=r, p=p).derive(passphrase.encode("utf-8"))
        return AESGCM(key).decrypt(b64d(doc["nonce"]), b64d(doc["ciphertext"]), f"{SEALED_FORMAT}:{purpose}".encode())
    except InvalidTag:
        raise KeyUnavailable(f"wrong passphrase for {what}, or it was altered") from None
    except (KeyError, ValueError, TypeError):
        raise KeyUnavailable(f"{what} is corrupt") from None
