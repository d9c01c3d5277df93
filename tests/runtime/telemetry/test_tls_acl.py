"""TLS with client certificates and per-device ACLs on a real mosquitto; a broker from an untrusted CA is refused."""

import datetime
import ipaddress
import json
import shutil
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from mammoedge.runtime.config import TelemetryConfig
from mammoedge.runtime.telemetry import ExamEvent, Reporter
from mqtt_helpers import Broker, Subscriber, check_schema, phi_scan_fixture

phi_scan = phi_scan_fixture()  # session end: nothing received may contain a planted identifier

pytestmark = pytest.mark.skipif(shutil.which("mosquitto") is None, reason="mosquitto is not installed (apt mosquitto)")

ACL = """\
# every device may write only below its own device id (the certificate's CN), and read its commands
pattern write mammoedge/v1/+/%u/#
pattern read mammoedge/v1/+/%u/command
user monitor
topic read mammoedge/v1/#
"""


class Pki:
    """A CA in ``folder``; :meth:`issue` writes a key and a certificate signed by it."""

    def __init__(self, folder: Path, name: str) -> None:
        self.folder, self.name = folder, name
        folder.mkdir(parents=True, exist_ok=True)
        self.key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        self.cert = (self._builder(subject, subject, self.key.public_key())
                     .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                     .sign(self.key, hashes.SHA256()))
        self.ca_file = folder / f"{name}.pem"
        self.ca_file.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))

    @staticmethod
    def _builder(subject, issuer, public_key):
        now = datetime.datetime.now(datetime.UTC)
        return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(public_key)
                .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
                .not_valid_after(now + datetime.timedelta(days=1)))

    def issue(self, common_name: str, *, server: bool = False) -> tuple[str, str]:
        key = ec.generate_private_key(ec.SECP256R1())
        builder = self._builder(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]),
                                self.cert.subject, key.public_key())
        builder = builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        if server:
            builder = builder.add_extension(x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        builder = builder.add_extension(x509.ExtendedKeyUsage(
            [ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        cert = builder.sign(self.key, hashes.SHA256())
        cert_file, key_file = self.folder / f"{common_name}.crt", self.folder / f"{common_name}.key"
        cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        return str(cert_file), str(key_file)


class TlsBroker(Broker):
    """mosquitto requiring a client certificate (its CN is the user name) and applying ``ACL``."""

    def __init__(self, tmp_path: Path, ca: Pki, server: Pki) -> None:
        super().__init__(tmp_path)
        cert, key = server.issue("broker", server=True)
        acl = tmp_path / "acl"
        acl.write_text(ACL)
        self.conf.write_text(f"per_listener_settings false\nlistener {self.port} 127.0.0.1\n"
                             f"cafile {ca.ca_file}\ncertfile {cert}\nkeyfile {key}\nrequire_certificate true\n"
                             f"use_identity_as_username true\nacl_file {acl}\npersistence false\n"
                             "log_dest stderr\nuser root\n")


def tls_config(port: int, device: str, ca: Pki, client: Pki, state: Path) -> TelemetryConfig:
    cert, key = client.issue(device)
    return TelemetryConfig(enabled=True, host="127.0.0.1", port=port, site="test", device_id=device,
                           ca_file=str(ca.ca_file), cert_file=cert, key_file=key, keepalive_s=5,
                           health_interval_s=3600, outbox_path=str(state / f"{device}.sqlite"))


def raw_client(port: int, device: str, ca: Pki) -> tuple[mqtt.Client, dict[int, int]]:
    """A plain MQTT 5 client with ``device``'s certificate; returns it and mid -> PUBACK reason code."""
    acks: dict[int, int] = {}
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=device, protocol=mqtt.MQTTv5)
    cert, key = ca.issue(device)
    client.tls_set(ca_certs=str(ca.ca_file), certfile=cert, keyfile=key)
    client.on_publish = lambda c, u, mid, reason_code, props: acks.__setitem__(mid, reason_code.value)
    connected = threading.Event()
    client.on_connect = lambda c, u, f, reason_code, props: connected.set() if not reason_code.is_failure else None
    client.connect("127.0.0.1", port)
    client.loop_start()
    assert connected.wait(5), "device connects with its certificate"
    return client, acks


def test_device_can_publish_only_below_its_own_id(tmp_path):
    ca = Pki(tmp_path / "pki", "fleet-ca")
    broker = TlsBroker(tmp_path, ca, ca).start()
    monitor_cert, monitor_key = ca.issue("monitor")
    sub = Subscriber(broker.port, tls=(str(ca.ca_file), monitor_cert, monitor_key), client_id="monitor")
    reporter = Reporter(tls_config(broker.port, "dev-b", ca, ca, tmp_path), tmp_path / "state")
    reporter.start()
    intruder = None
    try:
        reporter.exam_analyzed(ExamEvent(study_key="a" * 32, flag=False))
        online = sub.wait_for(lambda m: m[0] == "mammoedge/v1/test/dev-b/status" and m[1]["state"] == "online")
        assert online and sub.wait_for(lambda m: m[0] == "mammoedge/v1/test/dev-b/event")
        check_schema(online[0][1])
        intruder, acks = raw_client(broker.port, "dev-a", ca)
        forged = json.dumps({"type": "status", "state": "offline"})
        denied = intruder.publish("mammoedge/v1/test/dev-b/status", forged, qos=1, retain=True)
        allowed = intruder.publish("mammoedge/v1/test/dev-a/status", forged, qos=1)
        denied.wait_for_publish(5)
        allowed.wait_for_publish(5)
        assert acks[denied.mid] == 135  # MQTT 5 PUBACK reason code: Not authorized
        assert acks[allowed.mid] == 0
        assert sub.wait_for(lambda m: m[0] == "mammoedge/v1/test/dev-a/status")
        time.sleep(0.5)
        assert [m[1]["state"] for m in sub.messages if m[0] == "mammoedge/v1/test/dev-b/status"] == ["online"]
    finally:
        if intruder is not None:
            intruder.loop_stop()
            intruder.disconnect()
        reporter.stop()
        sub.close()
        broker.stop()


def test_broker_from_an_untrusted_ca_is_refused_and_events_stay_queued(tmp_path):
    ca, rogue = Pki(tmp_path / "pki", "fleet-ca"), Pki(tmp_path / "rogue", "rogue-ca")
    broker = TlsBroker(tmp_path, rogue, rogue).start()  # presents a certificate the device does not trust
    reporter = Reporter(tls_config(broker.port, "dev-b", ca, ca, tmp_path), tmp_path / "state")
    reporter.start()
    try:
        reporter.exam_analyzed(ExamEvent(study_key="b" * 32, flag=True))
        time.sleep(3)
        assert not reporter.client.is_connected()
        assert len(reporter.outbox) == 1, "the event waits in the outbox"
        assert "New client connected" not in broker.log.read_text()
    finally:
        reporter.stop()
        broker.stop()
