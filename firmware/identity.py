"""Device identity: a per-device key pair (0600, never logged) and a CSR for MQTT and DICOM TLS."""

from __future__ import annotations

import enum
import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import NameOID

from .errors import IdentityError

log = logging.getLogger(__name__)

KEY_FILE = "device-key.pem"
CSR_FILE = "device.csr"


class KeyType(enum.StrEnum):
    """Key algorithms: EC P-256 (every TLS stack), Ed25519 (newer stacks)."""

    EC_P256 = "ec-p256"
    ED25519 = "ed25519"


@dataclass(frozen=True, kw_only=True)
class Identity:
    """What may be shown of the identity: never the private key."""

    key_file: Path
    csr_file: Path
    key_type: KeyType
    fingerprint: str
    subject: str


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def ensure_identity(directory: Path, *, device_id: str, site: str, key_type: KeyType = KeyType.EC_P256) -> Identity:
    """The device's key pair and CSR in ``directory``; created on first use (key 0600, folder 0700)."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    key_path, csr_path = directory / KEY_FILE, directory / CSR_FILE
    if not key_path.exists():
        new_key = ec.generate_private_key(ec.SECP256R1()) if key_type is KeyType.EC_P256 \
            else ed25519.Ed25519PrivateKey.generate()
        _write_private(key_path, new_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))
        log.info("device key pair created (%s)", key_type.value)
    mode = key_path.stat().st_mode & 0o777
    if mode & 0o077:
        raise IdentityError(f"device key {key_path} has mode {mode:o}; the rule is 0600 (owner only)")
    try:
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except (ValueError, TypeError) as exc:
        raise IdentityError(f"device key {key_path} is not a readable PEM private key ({type(exc).__name__})") from None
    if isinstance(key, ec.EllipticCurvePrivateKey):
        actual, algorithm = KeyType.EC_P256, hashes.SHA256()
    elif isinstance(key, ed25519.Ed25519PrivateKey):
        actual, algorithm = KeyType.ED25519, None
    else:
        raise IdentityError(f"device key {key_path} is a {type(key).__name__}; the rule is EC P-256 or Ed25519")
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, device_id),
                         x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, site)])
    if not csr_path.exists():
        csr = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, algorithm)
        csr_path.write_bytes(csr.public_bytes(serialization.Encoding.PEM))
    public = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return Identity(key_file=key_path, csr_file=csr_path, key_type=actual, subject=subject.rfc4514_string(),
                    fingerprint="sha256:" + hashlib.sha256(public).hexdigest())
