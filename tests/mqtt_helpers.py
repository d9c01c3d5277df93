"""A real mosquitto broker and a recording subscriber on 127.0.0.1, for tests."""

import json
import socket
import subprocess
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt


#: (topic, raw payload) of every message any test Subscriber received in this session (for the PHI scan)
RECORDED: list[tuple[str, bytes]] = []


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Broker:
    def __init__(self, tmp_path):
        self.port = free_port()
        self.conf = tmp_path / "mosquitto.conf"
        self.log = tmp_path / "mosquitto.log"
        self.conf.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
                             "log_dest stderr\n")
        self.proc = None

    def start(self):
        with open(self.log, "ab") as log:  # the broker may drop root: it logs to our file through stderr
            self.proc = subprocess.Popen(["mosquitto", "-c", str(self.conf)], stdout=subprocess.DEVNULL, stderr=log)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("mosquitto did not start")

    def connections(self, client_id: str) -> int:
        """How many times a client with this id connected (from the broker's log)."""
        text = self.log.read_text() if self.log.exists() else ""
        return sum(1 for line in text.splitlines() if "New client connected" in line and f" as {client_id} " in line)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(5)


class Subscriber:
    def __init__(self, port, *, tls: tuple[str, str, str] | None = None, client_id: str | None = None):
        self.messages: list[tuple[str, dict, bool]] = []
        self.lock = threading.Lock()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id or f"test-sub-{id(self)}")
        if tls is not None:
            ca_file, cert_file, key_file = tls
            self.client.tls_set(ca_certs=ca_file, certfile=cert_file, keyfile=key_file)
        self.client.on_message = self._on_message
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *a: subscribed.set()
        self.client.connect("127.0.0.1", port)
        self.client.subscribe("mammoedge/#", qos=1)
        self.client.loop_start()
        assert subscribed.wait(5)

    def _on_message(self, client, userdata, message):
        payload = bytes(message.payload)
        RECORDED.append((message.topic, payload))
        try:
            document = json.loads(payload)
        except ValueError:
            document = {"unparsed": payload.decode("utf-8", "replace")}
        with self.lock:
            self.messages.append((message.topic, document, message.retain))

    def publish(self, topic, payload, qos=1):
        info = self.client.publish(topic, payload, qos=qos)
        info.wait_for_publish(5)

    def wait_for(self, predicate, timeout=15.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                found = [m for m in self.messages if predicate(m)]
            if found:
                return found
            time.sleep(0.05)
        return []

    def close(self):
        self.client.loop_stop()
        self.client.disconnect()




def check_schema(document: dict) -> None:
    """Validate a published document against its committed JSON Schema (by its ``type``)."""
    import jsonschema

    from mammoedge.runtime import telemetry

    schema_file = Path(telemetry.__file__).parent / "schemas" / f"{document['type']}.schema.json"
    jsonschema.validate(document, json.loads(schema_file.read_text()))


#: patient identifiers planted in exams the tests send; nothing published may contain any of them
PLANTED: set[str] = set()
PLANTED_NAME, PLANTED_BIRTH_DATE = "PLANTEDSURNAME^JANEFIRST^Q", "19610407"


def plant_identifiers(files) -> None:
    """Give an exam's DICOM files distinctive patient identifiers (saved in place) and remember them and the UIDs."""
    import secrets

    import pydicom

    token = secrets.token_hex(4).upper()
    PLANTED.update({PLANTED_NAME, "PLANTEDSURNAME", "JANEFIRST", PLANTED_BIRTH_DATE, "1961-04-07"})
    for path in files:
        ds = pydicom.dcmread(path)
        ds.PatientName, ds.PatientID = PLANTED_NAME, f"PID-{token}"
        ds.PatientBirthDate, ds.AccessionNumber = PLANTED_BIRTH_DATE, f"ACC{token}"
        ds.save_as(path, enforce_file_format=True)
        PLANTED.update({f"PID-{token}", f"ACC{token}", ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID})


def find_leaks(records, planted) -> list[tuple[str, str]]:
    """(topic, identifier) for every planted identifier found in a recorded payload (case-insensitive)."""
    leaks = []
    for topic, payload in records:
        text = payload.decode("utf-8", "replace").upper()
        leaks += [(topic, value) for value in planted if value.upper() in text]
    return leaks


def _phi_scan():
    """At the end of the session: no recorded message contains a planted identifier."""
    yield
    if PLANTED:
        assert RECORDED, "identifiers were planted but no message was recorded: the scan would prove nothing"
    leaks = find_leaks(RECORDED, PLANTED)
    assert not leaks, f"patient identifiers published: {leaks[:5]}"


def phi_scan_fixture():
    import pytest

    return pytest.fixture(scope="session", autouse=True, name="phi_scan")(_phi_scan)
