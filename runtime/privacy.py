"""Pseudonymous keys for DICOM identifiers: HMAC-SHA256 with a per-device secret.

File names, queue rows, logs and telemetry use these keys, never the UIDs.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from .errors import StateError

KEY_HEX_CHARS = 32
SECRET_BYTES = 32


class DeviceSecretError(StateError):
    """The device secret that keys study and instance keys is missing or too short."""


def study_key(study_instance_uid: str, secret: bytes) -> str:
    """The exam's pseudonymous key: HMAC-SHA256(StudyInstanceUID, secret), first 32 hex digits."""
    return _key("study", study_instance_uid, secret)


def instance_key(sop_instance_uid: str, secret: bytes) -> str:
    """An instance's pseudonymous key: HMAC-SHA256(SOPInstanceUID, secret), first 32 hex digits."""
    return _key("instance", sop_instance_uid, secret)


def _key(kind: str, uid: str, secret: bytes) -> str:
    if not secret:
        raise DeviceSecretError("the device secret is empty; rule: at least 16 random bytes")
    message = uid.strip().encode("ascii", "replace")
    if kind != "study":
        message = b"sop:" + message  # instance keys never collide with study keys
    return hmac.new(secret, message, hashlib.sha256).hexdigest()[:KEY_HEX_CHARS]


def load_or_create_secret(path: Path) -> bytes:
    """Read the device secret at ``path``, creating it (0600, random) on first use."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        data = secrets.token_bytes(SECRET_BYTES)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return path.read_bytes()
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    if len(data) < 16:
        raise DeviceSecretError(f"device secret {path} has {len(data)} bytes; rule: at least 16")
    return data
