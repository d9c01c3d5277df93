"""The reporter against a real mosquitto on 127.0.0.1: retained status, last will, events via the outbox."""

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from mammoedge.runtime.telemetry.payloads import PayloadError, build
from mqtt_helpers import Broker, Subscriber, check_schema, phi_scan_fixture

phi_scan = phi_scan_fixture()  # session end: nothing received may contain a planted identifier

pytestmark = pytest.mark.skipif(shutil.which("mosquitto") is None, reason="mosquitto is not installed (apt mosquitto)")


DEVICE_SCRIPT = textwrap.dedent("""
    import os, sys, time
    from pathlib import Path
    from mammoedge.runtime.config import TelemetryConfig
    from mammoedge.runtime.telemetry import ExamEvent, Reporter
    port, state, mode = int(sys.argv[1]), Path(sys.argv[2]), sys.argv[5]
    start, count = int(sys.argv[3]), int(sys.argv[4])
    config = TelemetryConfig(enabled=True, host="127.0.0.1", port=port, site="test", device_id="dev-a",
                             keepalive_s=2,
                             health_interval_s=float(os.environ.get("HEALTH_S", "0.5")))
    reporter = Reporter(config, state, health_source=lambda: {"queue_depth": 3, "oldest_waiting_s": 1.5})
    for i in range(start, start + count):
        reporter.exam_analyzed(ExamEvent(study_key=f"{i:032x}", flag=i % 2 == 0, clusters_by_birads={"4B": 1},
                                         models={"calc-detector": "1.0.0"}, latency_s={"total": 1.0}))
    print("queued", flush=True)
    reporter.start()
    if mode == "stop":
        time.sleep(3)
        reporter.stop()
        print("stopped", flush=True)
    elif mode == "queue-then-stop":  # events queued just before a clean stop
        while not reporter.client.is_connected():
            time.sleep(0.05)
        for i in range(start + count, start + count + 20):
            reporter.exam_analyzed(ExamEvent(study_key=f"{i:032x}", flag=False, clusters_by_birads={},
                                             models={"calc-detector": "1.0.0"}, latency_s={"total": 1.0}))
        reporter.stop()
        print("stopped", flush=True)
    else:
        time.sleep(120)
""")


def device(port, state, start, count, mode, tmp_path, env=None):
    script = tmp_path / "device.py"
    script.write_text(DEVICE_SCRIPT)
    return subprocess.Popen([sys.executable, str(script), str(port), str(state), str(start), str(count), mode],
                            stdout=subprocess.PIPE, text=True, env={**os.environ, **(env or {})})


def test_status_health_event_and_last_will_on_sigkill(tmp_path):
    broker = Broker(tmp_path).start()
    sub = Subscriber(broker.port)
    proc = device(broker.port, tmp_path / "state", 0, 1, "sleep", tmp_path)
    try:
        online = sub.wait_for(lambda m: m[0].endswith("dev-a/status") and m[1]["state"] == "online")
        assert online
        event = sub.wait_for(lambda m: m[0] == "mammoedge/v1/test/dev-a/event")
        health = sub.wait_for(lambda m: m[0].endswith("/health"))
        assert event and health
        for document in (online[0][1], event[0][1], health[0][1]):
            check_schema(document)
        assert health[0][1]["queue_depth"] == 3 and health[0][1]["disk_free_mb"] > 0
        late = Subscriber(broker.port)  # a late subscriber still gets the retained status
        assert late.wait_for(lambda m: m[0].endswith("dev-a/status") and m[2] and m[1]["state"] == "online")
        late.close()
        proc.send_signal(signal.SIGKILL)
        proc.wait(5)
        offline = sub.wait_for(lambda m: m[0].endswith("dev-a/status") and m[1]["state"] == "offline", timeout=10)
        assert offline, "the broker published the last will after SIGKILL"
    finally:
        proc.kill()
        sub.close()
        broker.stop()


def test_clean_stop_says_offline(tmp_path):
    broker = Broker(tmp_path).start()
    sub = Subscriber(broker.port)
    proc = device(broker.port, tmp_path / "state", 0, 0, "stop", tmp_path)
    try:
        assert proc.wait(20) == 0
        states = [m[1]["state"] for m in sub.messages if m[0].endswith("/status")]
        assert states[-1] == "offline" and "online" in states
    finally:
        proc.kill()
        sub.close()
        broker.stop()


def test_a_clean_stop_sends_what_was_queued_before_it(tmp_path):
    broker = Broker(tmp_path).start()
    sub = Subscriber(broker.port)
    state = tmp_path / "state"
    proc = device(broker.port, state, 0, 0, "queue-then-stop", tmp_path)
    try:
        assert proc.wait(20) == 0
        assert sub.wait_for(lambda m: m[0].endswith("/status") and m[1]["state"] == "offline")
        keys = list(dict.fromkeys(m[1]["study_key"] for m in sub.messages if m[0].endswith("/event")))
        assert keys == [f"{i:032x}" for i in range(20)]
        from mammoedge.runtime.telemetry import Outbox

        assert len(Outbox(state / "telemetry-outbox.sqlite")) == 0
    finally:
        proc.kill()
        sub.close()
        broker.stop()


def test_events_survive_broker_outage_and_restart_exactly_once_in_order(tmp_path):
    broker = Broker(tmp_path)  # not started: the broker is away
    state = tmp_path / "state"
    first = device(broker.port, state, 0, 25, "sleep", tmp_path)
    assert first.stdout.readline().strip() == "queued"
    first.send_signal(signal.SIGKILL)  # the process dies with 25 events undelivered
    first.wait(5)
    broker.start()
    sub = Subscriber(broker.port)
    second = device(broker.port, state, 25, 25, "stop", tmp_path)
    try:
        assert second.wait(30) == 0
        events = [m[1] for m in sub.messages if m[0].endswith("/event")]
        unique = list({e["message_id"]: e for e in events}.values())  # drop QoS 1 repeats, keep arrival order
        keys = [e["study_key"] for e in unique]
        assert len(unique) == 50
        assert keys == [f"{i:032x}" for i in range(50)]  # each exam once, in order
        from mammoedge.runtime.telemetry import Outbox

        assert len(Outbox(state / "telemetry-outbox.sqlite")) == 0  # acknowledged rows left the outbox
    finally:
        first.kill()
        second.kill()
        sub.close()
        broker.stop()


def test_allow_list_refuses_unknown_fields_and_identifiers():
    with pytest.raises(PayloadError, match="'patient_name' is not allowed in a event message"):
        build("event", study_key="0" * 32, flag=True, patient_name="Doe^Jane")
    with pytest.raises(PayloadError, match="32-hex opaque study key"):
        build("event", study_key="1.2.840.113619.2.55.3", flag=False)


def test_command_topic_runs_safe_actions_and_refuses_the_rest(tmp_path):
    broker = Broker(tmp_path).start()
    sub = Subscriber(broker.port)
    proc = device(broker.port, tmp_path / "state", 0, 0, "sleep", tmp_path, env={"HEALTH_S": "3600"})
    command, results = "mammoedge/v1/test/dev-a/command", "mammoedge/v1/test/dev-a/command/result"
    try:
        assert sub.wait_for(lambda m: m[0].endswith("dev-a/status") and m[1]["state"] == "online")
        assert len(sub.wait_for(lambda m: m[0].endswith("/health"))) == 1  # the one at connect
        time.sleep(0.5)  # the device subscribes to its command topic right after saying online
        sub.publish(command, json.dumps({"action": "report_health", "request_id": "r1"}))
        ok = sub.wait_for(lambda m: m[0] == results and m[1].get("request_id") == "r1")
        assert ok and ok[0][1]["accepted"] is True and ok[0][1]["action"] == "report_health"
        assert len(sub.wait_for(lambda m: m[0].endswith("/health"))) == 2  # a health report on request
        refused = {
            "reboot": (json.dumps({"action": "reboot", "request_id": "r2"}), "action", "'reboot' is not allowed"),
            "json": (b"{not json", "json", "not UTF-8 JSON"),
            "size": (json.dumps({"action": "report_health", "pad": "x" * 5000}), "size", "over the 1024-byte limit"),
            "fields": (json.dumps({"action": "report_status", "request_id": "r4", "shell": "rm -rf /"}), "fields",
                       "'shell' is not allowed"),
            "object": (b"[1, 2]", "object", "must be a JSON object"),
        }
        for name, (payload, rule, text) in refused.items():
            before = len([m for m in sub.messages if m[0] == results])
            sub.publish(command, payload)
            replies = sub.wait_for(lambda m, rule=rule: m[0] == results and m[1].get("rule") == rule)
            assert replies, name
            assert replies[-1][1]["accepted"] is False and text in replies[-1][1]["error"], replies[-1][1]
            assert len([m for m in sub.messages if m[0] == results]) == before + 1
        metrics = sub.wait_for(lambda m: m[0] == results and m[1].get("rule") == "unavailable", timeout=0.1)
        assert not metrics
        sub.publish(command, json.dumps({"action": "report_metrics"}))
        assert sub.wait_for(lambda m: m[0] == results and m[1].get("rule") == "unavailable")
        sub.publish(command, json.dumps({"action": "report_status", "request_id": "r9"}))  # still serving
        assert sub.wait_for(lambda m: m[0] == results and m[1].get("request_id") == "r9" and m[1]["accepted"])
        assert proc.poll() is None
        for topic_name, document, _ in sub.messages:
            if topic_name == results:
                check_schema(document)
    finally:
        proc.kill()
        sub.close()
        broker.stop()


def test_event_from_a_result_full_of_identifiers_publishes_none(tmp_path):
    """A result document carrying identifiers anywhere: the allow-listed event sends counts and the key only."""
    from mammoedge.runtime.config import TelemetryConfig
    from mammoedge.runtime.telemetry import Reporter, exam_event
    from mqtt_helpers import PLANTED, PLANTED_BIRTH_DATE, PLANTED_NAME

    uid, accession, patient_id = "1.2.826.0.1.3680043.8.498.4711", "ACC-TEL-0815", "PID-TEL-4711"
    PLANTED.update({uid, accession, patient_id, PLANTED_NAME, PLANTED_BIRTH_DATE})
    document = {"study_key": "c" * 32, "patient_name": PLANTED_NAME, "accession": accession,
                "result": {"triage": {"flagged": True, "patient_id": patient_id},
                           "views": [{"sop_instance_uid": uid, "birth_date": PLANTED_BIRTH_DATE,
                                      "clusters": [{"morphology": {"birads": "4B"}, "note": PLANTED_NAME}]}],
                           "models": [{"name": "calc-detector", "version": "1.0.0"}],
                           "timings": [{"stage": "read", "seconds": 0.2}]}}
    broker = Broker(tmp_path).start()
    sub = Subscriber(broker.port)
    config = TelemetryConfig(enabled=True, host="127.0.0.1", port=broker.port, site="test", device_id="dev-p")
    reporter = Reporter(config, tmp_path / "state")
    reporter.start()
    try:
        reporter.exam_analyzed(exam_event(document))
        (event,) = sub.wait_for(lambda m: m[0] == "mammoedge/v1/test/dev-p/event")
        assert event[1]["flag"] is True and event[1]["clusters_by_birads"] == {"4B": 1}
        check_schema(event[1])
    finally:
        reporter.stop()
        sub.close()
        broker.stop()


def test_outbox_cap_drops_oldest_and_health_reports_the_count_once_online(tmp_path):
    from mammoedge.runtime.config import TelemetryConfig
    from mammoedge.runtime.telemetry import ExamEvent, Reporter

    broker = Broker(tmp_path)  # away while five events are queued into an outbox of three
    config = TelemetryConfig(enabled=True, host="127.0.0.1", port=broker.port, site="test", device_id="dev-d",
                             outbox_max=3, health_interval_s=3600)
    reporter = Reporter(config, tmp_path / "state")
    for i in range(5):
        reporter.exam_analyzed(ExamEvent(study_key=f"{i:032x}", flag=False))
    broker.start()
    sub = Subscriber(broker.port)
    reporter.start()
    try:
        health = sub.wait_for(lambda m: m[0] == "mammoedge/v1/test/dev-d/health")
        assert health and health[0][1]["events_dropped"] == 2
        check_schema(health[0][1])
        assert sub.wait_for(lambda m: m[0].endswith("dev-d/event") and m[1]["study_key"] == f"{4:032x}")
        keys = [m[1]["study_key"] for m in sub.messages if m[0].endswith("dev-d/event")]
        assert keys == [f"{i:032x}" for i in (2, 3, 4)]  # the two oldest were dropped, the rest in order
    finally:
        reporter.stop()
        sub.close()
        broker.stop()


def test_mqtt_311_for_a_broker_without_mqtt5(tmp_path):
    """``mqtt_version = "3.1.1"``: a 3.1.1 connection with a persistent session; status and event arrive."""
    from mammoedge.runtime.config import MqttVersion, TelemetryConfig
    from mammoedge.runtime.telemetry import ExamEvent, Reporter

    broker = Broker(tmp_path).start()
    sub = Subscriber(broker.port)
    config = TelemetryConfig(enabled=True, host="127.0.0.1", port=broker.port, site="test", device_id="dev-v4",
                             mqtt_version=MqttVersion.V311, keepalive_s=2)
    reporter = Reporter(config, tmp_path / "state")
    reporter.start()
    try:
        reporter.exam_analyzed(ExamEvent(study_key="e" * 32, flag=False))
        assert sub.wait_for(lambda m: m[0].endswith("dev-v4/status") and m[1]["state"] == "online")
        assert sub.wait_for(lambda m: m[0].endswith("dev-v4/event"))
        log = broker.log.read_text()
        assert " as dev-v4 (p2, c0," in log  # mosquitto logs MQTT 3.1.1 as p2 (5 as p5); c0: clean session off
    finally:
        reporter.stop()
        sub.close()
        broker.stop()
