"""Opaque study keys: a result can be matched to its exam only by whoever holds the device secret."""

from __future__ import annotations

import hashlib
import hmac
import os
from pathlib import Path

KEY_LENGTH = 32


def study_key(study_instance_uid: str, secret: bytes) -> str:
    """HMAC-SHA256 of the StudyInstanceUID under ``secret``, hex, first 32 characters."""
    if not secret:
        raise ValueError("the study-key secret is empty; rule: at least 16 random bytes")
    return hmac.new(secret, study_instance_uid.encode("ascii", "replace"), hashlib.sha256).hexdigest()[:KEY_LENGTH]


def load_secret(path: Path) -> bytes:
    """The device's study-key secret, created (32 random bytes, mode 0600) on first use."""
    try:
        data = path.read_bytes()
        if len(data) >= 16:
            return data
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(os.urandom(32))
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return path.read_bytes()
