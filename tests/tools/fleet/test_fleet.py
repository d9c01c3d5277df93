"""``mammoedge fleet simulate`` on a real mosquitto; ``mammoedge fleet monitor --json --once`` sees every device."""

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mammoedge.runtime.telemetry.payloads import ExamEvent, build, event_payload
from mammoedge.tools.fleet.monitor import DeviceState, FleetState, as_table
from mqtt_helpers import Broker, Subscriber, check_schema, phi_scan_fixture

phi_scan = phi_scan_fixture()  # session end: nothing received may contain a planted identifier

MAMMOEDGE = Path(sys.executable).parent / "mammoedge"


def monitor_json(port: int, timeout: float) -> dict:
    out = subprocess.run([str(MAMMOEDGE), "fleet", "monitor", "--port", str(port), "--json", "--once",
                          "--timeout", str(timeout)], capture_output=True, text=True, timeout=timeout + 30)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_fleet_state_folds_each_message_kind():
    state = FleetState()
    base = "mammoedge/v1/site-1/box-1"
    state.apply(f"{base}/status", build("status", state="online", software_version="1.2.3",
                                        models={"calc-detector": "1.0.0"}, devices=["CPU"]))
    state.apply(f"{base}/health", build("health", cpu_percent=1.0, memory_used_percent=2.0, disk_free_mb=3.0,
                                        queue_depth=4, errors={"quarantine:no-laterality": 2, "analysis:x": 1},
                                        events_dropped=5, exams_failed=2, outbox_backlog=7, uptime_s=60.0,
                                        restarts=3, unclean_restarts=1, devices=["openvino:CPU"],
                                        device_fallback=True, last_exam_age_s=30.0, oldest_waiting_s=900.0,
                                        update={"state": "idle", "last_outcome": "rolled-back",
                                                "last_rule": "health-check-failed", "version": "1.4.0",
                                                "target_version": "1.5.0"}))
    window = {"exams_analyzed": 1, "flags_raised": 1, "exams_failed": 0, "rejects": {},
              "latency_s": {"total": {"p50": 2.5, "p90": 3.0, "p99": 4.0, "n": 1}}}
    state.apply(f"{base}/metrics", build("metrics", interval_s=60, uptime_s=60, counting_since=1.0, interval=window,
                                         since_start=window))
    flagged = event_payload(ExamEvent(study_key="a" * 32, flag=True))
    state.apply(f"{base}/event", flagged)
    state.apply(f"{base}/event", flagged)  # a QoS 1 repeat: same message id, counted once
    state.apply(f"{base}/event", event_payload(ExamEvent(study_key="b" * 32, flag=False)))
    state.apply(f"{base}/health", b"{not json")
    state.apply("mammoedge/v1/short", b"{}")
    (row,) = state.rows()
    assert (row.state, row.software_version, row.queue_depth, row.errors) == (DeviceState.ONLINE, "1.2.3", 4, 3)
    assert (row.latency_p50_s, row.latency_p90_s, row.latency_p99_s) == (2.5, 3.0, 4.0)
    assert (row.flags_today, row.models) == (1, {"calc-detector": "1.0.0"})
    assert (row.events_dropped, row.exams_failed, row.outbox_backlog, row.restarts, row.unclean_restarts) == (
        5, 2, 7, 3, 1)
    assert row.rejects == {"quarantine:no-laterality": 2, "analysis:x": 1} and row.devices == ["openvino:CPU"]
    assert row.problems == ["queue-stuck", "disk-low", "failed-exams", "events-dropped", "outbox-backlog",
                            "device-fallback", "update-failed"]
    assert row.update_state == "idle/rolled-back"
    assert state.ignored == 2
    state.apply(f"{base}/status", build("status", state="offline", software_version="1.2.3"))
    assert state.rows()[0].state is DeviceState.OFFLINE and state.rows()[0].problems[0] == "offline"
    assert "site-1/box-1  offline" in as_table(state.rows(), time.time())


def test_malformed_messages_make_no_ghost_devices():
    """Garbage, a wrong type, a schema violation, a bad device name or an operator's command: no device."""
    state = FleetState()
    bad = [
        ("mammoedge/v1/site-1/ghost-1/status", b"{not json"),
        ("mammoedge/v1/site-1/ghost-2/health", build("status", state="online", software_version="1")),  # wrong kind
        ("mammoedge/v1/site-1/ghost-3/status", b'{"type": "status", "state": "online"}'),  # fields missing
        ("mammoedge/v1/site-1/ghost-4/event", json.dumps({**json.loads(event_payload(
            ExamEvent(study_key="a" * 32, flag=True))), "patient_name": "X"}).encode()),  # field not allowed
        ("mammoedge/v1/site-1/ghost 5/status", build("status", state="online", software_version="1")),
        ("mammoedge/v1/site-1/ghost-6/command", b'{"action": "report_health"}'),
        ("mammoedge/v1/site-1/ghost-7/whatever", build("status", state="online", software_version="1")),
    ]
    for topic, payload in bad:
        assert state.apply(topic, payload) is False, topic
    assert state.rows() == [] and state.ignored == len(bad)


def test_times_are_the_monitors_own():
    """A box 1 h fast that went offline: last seen is when its message arrived, and its clock is flagged.
    A retained message's time is the box's word, and never in the future."""
    state = FleetState(silent_after_s=100)
    now = time.time()
    fast = json.loads(build("status", state="offline", software_version="1"))
    fast["ts"] = now + 3600
    state.apply("mammoedge/v1/s/fast/status", json.dumps(fast).encode(), received_at=now - 50)
    (row,) = state.rows(now)
    assert row.last_seen == now - 50 and not row.last_seen_retained
    assert row.clock_skew_s == 3650.0 and "clock-skew" in row.problems
    assert "50s" in as_table([row], now)
    old = json.loads(build("status", state="online", software_version="1"))
    old["ts"] = now - 500
    state.apply("mammoedge/v1/s/quiet/status", json.dumps(old).encode(), retained=True, received_at=now)
    quiet = next(r for r in state.rows(now) if r.device == "quiet")
    assert quiet.last_seen == now - 500 and quiet.last_seen_retained
    assert quiet.problems == ["silent"]  # says online, no health for longer than silent_after_s
    state.apply("mammoedge/v1/s/quiet/health", build("health", cpu_percent=1.0, memory_used_percent=1.0,
                                                     disk_free_mb=1e5), received_at=now)
    assert next(r for r in state.rows(now + 10) if r.device == "quiet").problems == []
    assert next(r for r in state.rows(now + 200) if r.device == "quiet").problems == ["silent"]
    assert [r.device for r in state.rows(now)] == ["fast", "quiet"]  # problem-first: offline before ok


@pytest.mark.skipif(shutil.which("mosquitto") is None, reason="mosquitto is not installed (apt mosquitto)")
def test_simulate_20_devices_and_monitor_sees_them_all(tmp_path):
    broker = Broker(tmp_path).start()
    sub = Subscriber(broker.port)
    sim = subprocess.Popen([str(MAMMOEDGE), "fleet", "simulate", "--devices", "20", "--port", str(broker.port),
                            "--health-interval", "1", "--metrics-interval", "1", "--rate", "60", "--json"],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        def online():
            return {m[0] for m in sub.messages if m[0].endswith("/status") and m[1]["state"] == "online"}
        deadline = time.monotonic() + 20
        while len(online()) < 20 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(online()) == 20
        document = monitor_json(broker.port, 3.0)
        assert document["devices_total"] == 20 and document["devices_by_state"]["online"] == 20
        devices = document["devices"]
        assert {d["device"] for d in devices} == {f"sim-{i:05d}" for i in range(20)}
        assert all(d["software_version"] and d["queue_depth"] is not None and d["last_seen"] for d in devices)
        latencies = [d["latency_p50_s"] for d in devices if d["latency_p50_s"] is not None]
        assert latencies and all(2.0 <= p <= 4.0 for p in latencies)
        sim.send_signal(signal.SIGINT)  # a clean stop: every device says offline
        assert sim.wait(20) == 0
        report = json.loads(sim.stdout.read())
        assert report["connected"] == 20 and report["published"] >= 20 * 3
        after = monitor_json(broker.port, 1.0)
        assert after["devices_by_state"] == {"online": 0, "offline": 20, "unknown": 0}
        kinds = {m[0].rsplit("/", 1)[1] for m in sub.messages}
        assert {"status", "health", "metrics", "event"} <= kinds
        for _, document, _ in sub.messages:
            check_schema(document)
    finally:
        sim.kill()
        sub.close()
        broker.stop()
