"""DICOM TLS with a test CA; a full spool disk answers 0xA700; SIGTERM and sd_notify."""

from __future__ import annotations

import datetime
import socket
import threading
import subprocess
import time
from pathlib import Path

import pytest
from service_helpers import clone_exams, storescu
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

HAVE_DCMTK = subprocess.run(["which", "storescu"], capture_output=True).returncode == 0
pytestmark = pytest.mark.skipif(not HAVE_DCMTK, reason="dcmtk storescu not installed")


def _cert(subject: str, key, issuer_key=None, issuer_name=None, *, ca: bool = False, ip: str | None = None):
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    now = datetime.datetime.now(datetime.UTC)
    builder = (x509.CertificateBuilder().subject_name(name).issuer_name(issuer_name or name)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if ip:
        import ipaddress
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip))]),
                                        critical=False)
    return builder.sign(issuer_key or key, hashes.SHA256())


def _write(path: Path, key, cert) -> None:
    path.with_suffix(".key").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                           serialization.PrivateFormat.TraditionalOpenSSL,
                                                           serialization.NoEncryption()))
    path.with_suffix(".crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))


@pytest.fixture(scope="module")
def test_ca(tmp_path_factory) -> Path:
    """A test CA, a server certificate for 127.0.0.1 and a client certificate, as PEM files."""
    root = tmp_path_factory.mktemp("pki")
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _cert("mammoedge test CA", ca_key, ca=True)
    _write(root / "ca", ca_key, ca)
    for name, ip in (("server", "127.0.0.1"), ("client", None)):
        key = ec.generate_private_key(ec.SECP256R1())
        _write(root / name, key, _cert(name, key, ca_key, ca.subject, ip=ip))
    return root


def test_tls_association_works_and_plain_is_refused(serve, phantom_exam, tmp_path, test_ca):
    served = serve(options={"tls_cert_file": str(test_ca / "server.crt"), "tls_key_file": str(test_ca / "server.key"),
                            "tls_client_ca_file": str(test_ca / "ca.crt")}).start()
    (exam,) = clone_exams(phantom_exam, tmp_path / "src", 1)
    plain = storescu(served.port, exam)
    assert plain.returncode != 0 and "(Success)" not in plain.stderr
    tls = storescu(served.port, exam, extra=("+tls", str(test_ca / "client.key"), str(test_ca / "client.crt"),
                                             "+cf", str(test_ca / "ca.crt")))
    assert tls.returncode == 0, tls.stderr
    assert tls.stderr.count("Received Store Response (Success)") == 4
    served.wait_results(1, timeout=30)
    # Without a client certificate the handshake fails (client certificates are required).
    anonymous = storescu(served.port, exam, extra=("+tla", "+cf", str(test_ca / "ca.crt")))
    assert anonymous.returncode != 0


def test_full_disk_answers_out_of_resources_and_keeps_serving(serve, phantom_exam, tmp_path):
    state = tmp_path / "tiny"
    state.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(state)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a 1 MB tmpfs to fill (needs root): {mounted.stderr.decode().strip()}")
    try:
        served = serve(options={"state_dir": str(state)}).start()
        exams = clone_exams(phantom_exam, tmp_path / "src", 2)
        files = [f for e in exams for f in e]
        assert sum(f.stat().st_size for f in files) > 1_000_000
        sent = storescu(served.port, files)
        assert "Received Store Response (Refused: OutOfResources)" in sent.stderr, sent.stderr[-1500:]
        assert served.proc.poll() is None
        assert served.status()["errors_by_reason"].get("intake:disk-full", 0) >= 1
        echo = subprocess.run(["echoscu", "-aec", "MAMMOEDGE", "127.0.0.1", str(served.port)], capture_output=True)
        assert echo.returncode == 0
        assert not [p for p in state.rglob(".tmp-*")]
        served.terminate()
    finally:
        subprocess.run(["umount", "-l", str(state)], capture_output=True)


def test_sigterm_and_sd_notify(serve, phantom_exam, tmp_path):
    sock_path = tmp_path / "notify.sock"
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(sock_path))
    notify.settimeout(0.2)
    messages: list[str] = []
    done = threading.Event()

    def drain():  # read like systemd does, all the time
        while not done.is_set():
            try:
                messages.append(notify.recv(4096).decode())
            except TimeoutError:
                pass

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    served = serve().start(env={"NOTIFY_SOCKET": str(sock_path), "WATCHDOG_USEC": "400000"})
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not any("WATCHDOG=1" in m for m in messages):
        time.sleep(0.05)
    assert messages[0].startswith("READY=1") and "STATUS=queue 0" in messages[0]
    assert any("WATCHDOG=1" in m for m in messages)
    (exam,) = clone_exams(phantom_exam, tmp_path / "src", 1)
    assert storescu(served.port, exam).returncode == 0
    served.wait_results(1, timeout=60)
    assert served.terminate() == 0
    time.sleep(0.5)
    done.set()
    reader.join(2)
    assert any(m.startswith("STOPPING=1") for m in messages)
    notify.close()
