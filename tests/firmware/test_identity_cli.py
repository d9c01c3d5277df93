"""Device identity (0600 key, CSR), the device/update commands on a fresh install."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from mammoedge.firmware.errors import IdentityError
from mammoedge.firmware.identity import KeyType, ensure_identity

MAMMOEDGE = Path(sys.executable).with_name("mammoedge")


@pytest.mark.parametrize("key_type", list(KeyType))
def test_identity_key_is_private_and_csr_valid(tmp_path: Path, key_type: KeyType,
                                               caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    first = ensure_identity(tmp_path / "id", device_id="me-1234", site="lab", key_type=key_type)
    assert first.key_file.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "id").stat().st_mode & 0o777 == 0o700
    csr = x509.load_pem_x509_csr(first.csr_file.read_bytes())
    assert csr.is_signature_valid and "CN=me-1234" in csr.subject.rfc4514_string()
    again = ensure_identity(tmp_path / "id", device_id="me-1234", site="lab")
    assert again.fingerprint == first.fingerprint  # the key is kept, not regenerated
    key_text = first.key_file.read_text()
    body = "".join(key_text.splitlines()[1:-1])
    assert body not in caplog.text and "PRIVATE KEY" not in caplog.text


def test_identity_refuses_a_readable_key(tmp_path: Path) -> None:
    ident = ensure_identity(tmp_path / "id", device_id="me-1", site="lab")
    os.chmod(ident.key_file, 0o644)
    with pytest.raises(IdentityError, match="0600"):
        ensure_identity(tmp_path / "id", device_id="me-1", site="lab")


def _env(tmp_path: Path) -> dict[str, str]:
    return dict(os.environ, MAMMOEDGE__UPDATE__ROOT=str(tmp_path / "opt"),
                MAMMOEDGE__SERVICE__STATE_DIR=str(tmp_path / "state"))


def test_update_status_json_on_a_fresh_install(tmp_path: Path) -> None:
    out = subprocess.run([str(MAMMOEDGE), "update", "status", "--json"], capture_output=True, text=True,
                         env=_env(tmp_path), timeout=60, check=False)
    assert out.returncode == 0, out.stderr
    status = json.loads(out.stdout)
    assert status["update"]["state"] == "idle" and status["update"]["last_outcome"] == "none"
    assert status["slots"] == {"a": None, "b": None} and status["links"] == {"current": None, "good": None}


def test_device_command(tmp_path: Path) -> None:
    out = subprocess.run([str(MAMMOEDGE), "device", "--json"], capture_output=True, text=True, env=_env(tmp_path),
                         timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert "PRIVATE" not in out.stdout + out.stderr
    assert report["identity"]["public_key"].startswith("sha256:")
    assert "CPU" in report["openvino"]["devices"] and report["openvino"]["devices"]["CPU"]["plugin_version"]
    assert report["engine"]["device"].startswith("AUTO:") and "present" in report["engine"]["why"]
    assert (tmp_path / "state" / "identity" / "device-key.pem").stat().st_mode & 0o777 == 0o600


def test_update_apply_without_a_provisioned_box_is_a_typed_error(tmp_path: Path) -> None:
    out = subprocess.run([str(MAMMOEDGE), "update", "rollback"], capture_output=True, text=True,
                         env=_env(tmp_path), timeout=60, check=False)
    assert out.returncode == 1 and "rule: no-good-slot" in out.stderr
