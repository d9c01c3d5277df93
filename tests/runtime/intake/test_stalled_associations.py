"""Stalled and idle connections must not lock modalities out (issue 16 item 1), with dcmtk and raw sockets.

The attacker side is raw TCP from other loopback addresses (127.0.0.2 ...): connections that send the first
half of a real A-ASSOCIATE-RQ (captured from ``echoscu``) and stall, and connections that send nothing. The
good modality is dcmtk's ``echoscu``/``storescu`` from 127.0.0.1.
"""

from __future__ import annotations

import socket
import struct
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from mgfactory import make_dataset

from mammoedge.runtime.config import ReaderConfig, ServiceConfig
from mammoedge.runtime.intake.receiver import Receiver
from mammoedge.runtime.intake.store import Intake
from mammoedge.runtime.jobs import JobQueue


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def association_rq() -> bytes:
    """The A-ASSOCIATE-RQ PDU dcmtk's echoscu sends, captured on a raw listening socket."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        port = server.getsockname()[1]
        proc = subprocess.Popen(["echoscu", "-to", "2", "-ta", "2", "-aec", "MAMMOEDGE", "127.0.0.1", str(port)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            server.settimeout(10)
            conn, _ = server.accept()
            with conn:
                conn.settimeout(10)
                head = _recv_exactly(conn, 6)
                (length,) = struct.unpack(">L", head[2:])
                pdu = head + _recv_exactly(conn, length)
        finally:
            proc.kill()
            proc.wait(10)
    assert pdu[0] == 0x01
    return pdu


def _recv_exactly(conn: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        assert chunk, "peer closed early"
        data += chunk
    return data


def _receiver(tmp_path: Path, **options: object) -> Iterator[Receiver]:
    queue = JobQueue(tmp_path / "q.sqlite")
    intake = Intake(spool_dir=tmp_path / "spool", quarantine_dir=tmp_path / "quarantine", queue=queue,
                    secret=b"s" * 32, reader=ReaderConfig())
    config = ServiceConfig(state_dir=tmp_path, bind_address="127.0.0.1", port=_free_port(), acse_timeout_s=10.0,
                           network_timeout_s=30.0, **options)  # type: ignore[arg-type]
    receiver = Receiver(config, intake)
    receiver.start()
    try:
        yield receiver
    finally:
        receiver.stop()
        queue.close()


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[Receiver]:
    yield from _receiver(tmp_path)


def _stall(port: int, source: str, data: bytes) -> socket.socket:
    sock = socket.socket()
    sock.bind((source, 0))
    sock.connect(("127.0.0.1", port))
    if data:
        sock.sendall(data)
    return sock


def _echo(port: int) -> tuple[subprocess.CompletedProcess[str], float]:
    start = time.monotonic()
    out = subprocess.run(["echoscu", "-v", "-to", "10", "-ta", "10", "-aec", "MAMMOEDGE", "127.0.0.1", str(port)],
                         capture_output=True, text=True, timeout=30)
    return out, time.monotonic() - start


def _store(port: int, path: Path) -> tuple[subprocess.CompletedProcess[str], float]:
    start = time.monotonic()
    out = subprocess.run(["storescu", "-v", "-to", "10", "-ta", "10", "-aec", "MAMMOEDGE", "127.0.0.1", str(port),
                          str(path)], capture_output=True, text=True, timeout=30)
    return out, time.monotonic() - start


def _instance(tmp_path: Path) -> Path:
    ds, _ = make_dataset(laterality="L", view="CC")
    path = tmp_path / "LCC.dcm"
    ds.save_as(path, enforce_file_format=True)
    return path


def test_eight_half_sent_requests_do_not_lock_out_echoscu(receiver, association_rq):
    """The issue's reproduction: 8 sockets with 95 bytes of the RQ held all 8 slots ('Local Limit Exceeded')."""
    stalled = [_stall(receiver.port, f"127.0.0.{2 + i}", association_rq[:95]) for i in range(8)]
    try:
        time.sleep(0.3)
        out, elapsed = _echo(receiver.port)
        assert out.returncode == 0, out.stderr[-800:]
        assert "Received Echo Response (Success)" in out.stderr
        assert elapsed < 1.0, f"C-ECHO took {elapsed:.2f} s with 8 stalled requests"
    finally:
        for sock in stalled:
            sock.close()


def test_fifty_stalled_or_idle_connections_echo_and_store_within_a_second(receiver, association_rq, tmp_path):
    stalled = []
    for i in range(50):  # half stall inside the RQ, half send nothing; 25 source addresses, 2 each
        stalled.append(_stall(receiver.port, f"127.0.0.{2 + i // 2}", association_rq[:95] if i % 2 else b""))
    try:
        time.sleep(0.5)
        out, elapsed = _echo(receiver.port)
        assert out.returncode == 0 and "Received Echo Response (Success)" in out.stderr, out.stderr[-800:]
        assert elapsed < 1.0, f"C-ECHO took {elapsed:.2f} s with 50 stalled/idle connections"
        sent, elapsed = _store(receiver.port, _instance(tmp_path))
        assert sent.returncode == 0 and "Received Store Response (Success)" in sent.stderr, sent.stderr[-800:]
        assert elapsed < 1.0, f"C-STORE took {elapsed:.2f} s with 50 stalled/idle connections"
    finally:
        for sock in stalled:
            sock.close()


def test_a_stalled_request_is_closed_at_its_deadline(tmp_path, association_rq):
    for receiver in _receiver(tmp_path, association_request_timeout_s=1.0):
        sock = _stall(receiver.port, "127.0.0.2", association_rq[:95])
        sock.settimeout(5.0)
        start = time.monotonic()
        assert sock.recv(100) == b""  # the receiver closed it
        assert 0.8 < time.monotonic() - start < 2.5
        sock.close()


def test_slowloris_that_drips_bytes_is_closed_at_its_deadline(tmp_path, association_rq):
    """A per-read timeout is not enough: a byte every 0.3 s must still be cut off at the deadline from accept."""
    for receiver in _receiver(tmp_path, association_request_timeout_s=1.0):
        sock = _stall(receiver.port, "127.0.0.2", b"")

        def drip(sock: socket.socket = sock) -> None:
            try:
                for byte in association_rq[:60]:
                    sock.sendall(bytes([byte]))
                    time.sleep(0.3)
            except OSError:
                pass

        dripper = threading.Thread(target=drip, daemon=True)
        dripper.start()
        sock.settimeout(5.0)
        start = time.monotonic()
        try:
            data = sock.recv(100)
        except ConnectionResetError:
            data = b""
        assert data == b"" and time.monotonic() - start < 2.5
        sock.close()
        dripper.join(20)


def test_per_address_cap_closes_that_address_oldest_waiting_connection(tmp_path, association_rq):
    for receiver in _receiver(tmp_path, max_connections_per_address=3):
        socks = [_stall(receiver.port, "127.0.0.2", b"") for _ in range(4)]
        socks[0].settimeout(3.0)
        assert socks[0].recv(10) == b""  # the oldest of the four from 127.0.0.2 was closed at once
        for sock in socks[1:]:
            sock.setblocking(False)
            with pytest.raises(BlockingIOError):  # still open: nothing to read, not closed
                sock.recv(10)
        out, _ = _echo(receiver.port)  # another address is not affected
        assert out.returncode == 0, out.stderr[-800:]
        for sock in socks:
            sock.close()


def test_complete_request_from_a_raw_socket_is_answered(receiver, association_rq):
    """The gate hands a complete RQ to pynetdicom untouched: the raw sender gets an A-ASSOCIATE-AC."""
    sock = _stall(receiver.port, "127.0.0.2", association_rq)
    sock.settimeout(5.0)
    reply = sock.recv(6)
    assert reply and reply[0] == 0x02  # A-ASSOCIATE-AC
    sock.close()


def test_per_address_cap_on_associations_rejects_a_further_one(tmp_path, association_rq):
    """Established associations count too: beyond the cap from one address, 'local limit exceeded'."""
    for receiver in _receiver(tmp_path, max_connections_per_address=2):
        held = []
        for _ in range(2):
            sock = _stall(receiver.port, "127.0.0.1", association_rq)
            sock.settimeout(5.0)
            assert sock.recv(6)[0] == 0x02  # A-ASSOCIATE-AC: established, then left idle
            held.append(sock)
        out, _ = _echo(receiver.port)
        assert out.returncode != 0 and "Local Limit Exceeded" in out.stderr, out.stderr[-800:]
        for sock in held:
            sock.close()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and receiver.active_associations():
            time.sleep(0.05)
        out, _ = _echo(receiver.port)
        assert out.returncode == 0, out.stderr[-800:]


def test_silent_tls_client_does_not_stop_accepts(tmp_path):
    """pynetdicom does the TLS handshake in its accept loop: one client that sends nothing stopped all others."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
    (tmp_path / "server.key").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                            serialization.PrivateFormat.TraditionalOpenSSL,
                                                            serialization.NoEncryption()))
    (tmp_path / "server.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    for receiver in _receiver(tmp_path, tls_cert_file=tmp_path / "server.crt", tls_key_file=tmp_path / "server.key"):
        silent = [_stall(receiver.port, f"127.0.0.{2 + i}", b"") for i in range(3)]
        time.sleep(0.3)
        start = time.monotonic()
        out = subprocess.run(["echoscu", "-v", "+tla", "-ic", "-to", "10", "-ta", "10", "-aec", "MAMMOEDGE",
                              "127.0.0.1", str(receiver.port)], capture_output=True, text=True, timeout=30)
        elapsed = time.monotonic() - start
        assert out.returncode == 0 and "Received Echo Response (Success)" in out.stderr, out.stderr[-800:]
        assert elapsed < 1.0, f"TLS C-ECHO took {elapsed:.2f} s behind 3 silent clients"
        for sock in silent:
            sock.close()
