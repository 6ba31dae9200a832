"""TLS material for the local endpoint: a local CA and a localhost server certificate.

Created with `cryptography` on first use and kept in the workspace (`<workspace>/tls/`), private keys
mode 0600, so that clients pin one CA bundle across restarts. With PRIVML_KEYSTORE_PASSPHRASE set the
private keys are sealed under it (encrypted PKCS#8, as OpenSSL reads it), and keys written before the
passphrase was set are sealed on first use. A user's own certificate and key can be used instead. The
server context accepts TLS 1.2 and newer only.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from privml.crypto.keystore import passphrase_from_env
from privml.errors import KeyUnavailable, PrivmlError
from privml.workspace import private_dir, workspace_dir

_CA_DAYS = 3650
_SERVER_DAYS = 397  # browsers' and most clients' ceiling for leaf certificates
_RENEW_BEFORE = dt.timedelta(days=7)
_HOSTNAMES = ("localhost",)
_ADDRESSES = ("127.0.0.1", "::1")


@dataclass(frozen=True)
class TlsMaterial:
    certfile: Path  # server certificate chain (leaf, then CA)
    keyfile: Path
    ca_bundle: Path  # what clients pass as `verify=`
    key_password: str | None = None  # the passphrase the key file is sealed under, if any


def _write_private(path: Path, data: bytes) -> None:
    """Write a private key: created 0600 from the start, then renamed into place."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


def _write_public(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    passphrase = passphrase_from_env()
    sealing = (serialization.BestAvailableEncryption(passphrase.encode("utf-8")) if passphrase
               else serialization.NoEncryption())
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, sealing)


def _read_key(path: Path) -> ec.EllipticCurvePrivateKey | None:
    """A workspace private key, sealed or not; a plaintext one is sealed in place once a passphrase is set."""
    passphrase = passphrase_from_env()
    data = path.read_bytes()
    encrypted = b"ENCRYPTED" in data.split(b"\n", 1)[0]
    if encrypted and not passphrase:
        raise KeyUnavailable(f"TLS key {path} is passphrase-protected: set PRIVML_KEYSTORE_PASSPHRASE")
    try:
        key = serialization.load_pem_private_key(data, password=passphrase.encode("utf-8") if encrypted else None)
    except ValueError:
        raise KeyUnavailable(f"TLS key {path}: wrong passphrase, or the file is corrupt") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        return None
    if passphrase and not encrypted:
        _write_private(path, _key_pem(key))
    return key


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _still_valid(cert_path: Path) -> bool:
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    except (OSError, ValueError):
        return False
    return cert.not_valid_after_utc - _RENEW_BEFORE > _now() >= cert.not_valid_before_utc


def _new_ca(directory: Path) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "privml local CA")])
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=_CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write_private(directory / "ca.key", _key_pem(key))
    _write_public(directory / "ca.pem", cert.public_bytes(serialization.Encoding.PEM))
    return key, cert


def _load_ca(directory: Path) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate] | None:
    if not (directory / "ca.key").exists() or not _still_valid(directory / "ca.pem"):
        return None
    key = _read_key(directory / "ca.key")
    if key is None:
        return None
    return key, x509.load_pem_x509_certificate((directory / "ca.pem").read_bytes())


def _new_server_cert(
    directory: Path, ca_key: ec.EllipticCurvePrivateKey, ca_cert: x509.Certificate
) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    alt_names: list[x509.GeneralName] = [x509.DNSName(h) for h in _HOSTNAMES]
    alt_names += [x509.IPAddress(ipaddress.ip_address(a)) for a in _ADDRESSES]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(min(now + dt.timedelta(days=_SERVER_DAYS), ca_cert.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    chain = cert.public_bytes(serialization.Encoding.PEM) + ca_cert.public_bytes(serialization.Encoding.PEM)
    _write_private(directory / "server.key", _key_pem(key))
    _write_public(directory / "server.pem", chain)


def ensure_tls_material(workspace: str | os.PathLike[str] | None = None) -> TlsMaterial:
    """The workspace's CA and localhost certificate, created (or renewed near expiry) on demand."""
    directory = private_dir(workspace_dir(workspace) / "tls")
    loaded = _load_ca(directory)
    if loaded is None:
        loaded = _new_ca(directory)
        renew_server = True
    else:
        renew_server = not (directory / "server.key").exists() or not _still_valid(directory / "server.pem")
    if renew_server:
        _new_server_cert(directory, *loaded)
    else:
        _read_key(directory / "server.key")  # seals a key written before a passphrase was set
    return TlsMaterial(directory / "server.pem", directory / "server.key", directory / "ca.pem",
                       passphrase_from_env())


def user_tls_material(certfile: str | os.PathLike[str], keyfile: str | os.PathLike[str]) -> TlsMaterial:
    """The user's own certificate chain and key; clients verify against that chain."""
    cert, key = Path(certfile), Path(keyfile)
    for path, what in ((cert, "certificate"), (key, "private key")):
        if not path.is_file():
            raise PrivmlError(f"TLS {what} file not found: {path}")
    try:
        server_context(TlsMaterial(cert, key, cert))
    except ssl.SSLError as exc:
        raise PrivmlError(f"TLS certificate {cert} and key {key} do not form a usable pair") from exc
    return TlsMaterial(cert, key, cert)


def server_context(material: TlsMaterial) -> ssl.SSLContext:
    """A server-side context: TLS 1.2+ only, the platform's default (modern) cipher suites."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.options |= ssl.OP_NO_COMPRESSION | ssl.OP_CIPHER_SERVER_PREFERENCE
    ctx.load_cert_chain(str(material.certfile), str(material.keyfile), password=material.key_password)
    return ctx
