"""``mammoedge web`` serves HTTPS with the box's certificate (``<state_dir>/identity/device.crt`` + the device
key) when one is installed, and then speaks no plain HTTP."""

from __future__ import annotations

import datetime as dt
import http.client
import ipaddress
import ssl
import urllib.request
from types import SimpleNamespace

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from web_helpers import Page, free_port

from mammoedge.runtime.config import load_config


def self_signed(directory) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mammoedge-test-box")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .sign(key, hashes.SHA256()))
    directory.mkdir(parents=True)
    (directory / "device.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (directory / "device-key.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))


@pytest.fixture
def tls_page(tmp_path):
    self_signed(tmp_path / "state" / "identity")
    conf = tmp_path / "m.toml"
    conf.write_text(f'[service]\nstate_dir = "{tmp_path / "state"}"\n[web]\nport = {free_port()}\n')
    state = SimpleNamespace(root=tmp_path, config_file=conf, config=load_config(conf, env={}))
    page = Page(state)  # type: ignore[arg-type]
    yield page, tmp_path / "state" / "identity" / "device.crt"
    page.stop()


def test_https_with_the_box_certificate_and_no_plain_http(tls_page):
    page, cert = tls_page
    context = ssl.create_default_context(cafile=str(cert))
    with urllib.request.urlopen(f"https://127.0.0.1:{page.port}/login", context=context, timeout=10) as response:
        assert response.status == 200
        assert response.headers["Strict-Transport-Security"].startswith("max-age=")
    plain = http.client.HTTPConnection("127.0.0.1", page.port, timeout=5)
    try:
        plain.request("GET", "/login")
        status: int | None = plain.getresponse().status
    except (http.client.HTTPException, OSError):
        status = None
    assert status is None or status >= 400, status  # no page over plain HTTP
    assert "page on https://127.0.0.1" in page.log.read_text()
