"""``mammoedge fleet monitor`` as a terminal UI under tmux (send-keys, capture-pane) against a real mosquitto,
and ``--once --json`` showing retained health and metrics."""

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from mammoedge.runtime.telemetry.payloads import build
from mqtt_helpers import Broker, phi_scan_fixture

phi_scan = phi_scan_fixture()  # session end: nothing received may contain a planted identifier

MAMMOEDGE = Path(sys.executable).parent / "mammoedge"
DEVICES, OFFLINE, SILENT, WIDTH, HEIGHT = 60, (7, 31), 44, 120, 30


def publish_fleet(port: int) -> None:
    """Retained status, health and metrics for 60 boxes (two offline, one whose health is an hour old),
    and garbage on a device topic."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="fleet-publisher")
    client.connect("127.0.0.1", port)
    client.loop_start()
    infos = []
    for i in range(DEVICES):
        base = f"mammoedge/v1/site-a/box-{i:04d}"
        infos.append(client.publish(f"{base}/status", build(
            "status", state="offline" if i in OFFLINE else "online", software_version="0.1.0"), qos=1, retain=True))
        health = json.loads(build("health", cpu_percent=5.0, memory_used_percent=30.0, disk_free_mb=50000.0,
                                  queue_depth=i % 3, oldest_waiting_s=None, last_exam_age_s=12.0, exams_failed=0,
                                  outbox_backlog=0, events_dropped=0, uptime_s=3600.0, restarts=1,
                                  unclean_restarts=0, devices=["openvino:CPU"], device_fallback=False, errors={}))
        if i == SILENT:
            health["ts"] -= 3600
        infos.append(client.publish(f"{base}/health", json.dumps(health).encode(), qos=1, retain=True))
        window = {"exams_analyzed": i, "flags_raised": 0, "exams_failed": 0, "rejects": {},
                  "latency_s": {"total": {"p50": 1.5, "p90": 2.5, "p99": 3.5, "n": 9}}}
        infos.append(client.publish(f"{base}/metrics", build("metrics", interval_s=60.0, uptime_s=3600.0,
                                                              counting_since=1.0, interval=window,
                                                              since_start=window), qos=1, retain=True))
    infos.append(client.publish("mammoedge/v1/site-a/ghost-9/status", b"{garbage", qos=1, retain=True))
    for info in infos:
        info.wait_for_publish(10)
    client.loop_stop()
    client.disconnect()


def screen(session: str) -> list[str]:
    out = subprocess.run(["tmux", "-L", session, "capture-pane", "-p", "-t", session], capture_output=True,
                         text=True, check=True)
    return out.stdout.splitlines()


def wait_screen(session: str, predicate, timeout: float = 30.0) -> list[str]:
    deadline = time.monotonic() + timeout
    lines: list[str] = []
    while time.monotonic() < deadline:
        lines = screen(session)
        if predicate(lines):
            return lines
        time.sleep(0.3)
    raise AssertionError("screen never matched:\n" + "\n".join(lines))


def press_until(session: str, key: str, predicate, tries: int = 5) -> list[str]:
    """Press ``key`` until the screen matches (a key sent while the app is busy starting can be lost)."""
    for _ in range(tries - 1):
        subprocess.run(["tmux", "-L", session, "send-keys", "-t", session, key], check=True)
        try:
            return wait_screen(session, predicate, timeout=3.0)
        except AssertionError:
            continue
    subprocess.run(["tmux", "-L", session, "send-keys", "-t", session, key], check=True)
    return wait_screen(session, predicate, timeout=10.0)


def type_filter(session: str, text: str) -> None:
    """``/``, wait for the filter box to open, type ``text``, wait for it to show, Enter."""
    press_until(session, "/", lambda lines: any("filter: words" in line for line in lines))
    subprocess.run(["tmux", "-L", session, "send-keys", "-t", session, "-l", text], check=True)
    wait_screen(session, lambda lines: any(line.strip(" ▊▎").strip() == text for line in lines))
    subprocess.run(["tmux", "-L", session, "send-keys", "-t", session, "Enter"], check=True)


def device_rows(lines: list[str]) -> list[str]:
    return [line.split()[0] for line in lines if line.strip().startswith("site-a/")]


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is missing (apt tmux; .ci/setup installs it)")
def test_tui_fixed_header_problem_first_filter_paging_under_tmux(tmp_path):
    broker = Broker(tmp_path).start()
    session = f"mon-{broker.port}"
    try:
        publish_fleet(broker.port)
        subprocess.run(["tmux", "-L", session, "new-session", "-d", "-s", session, "-x", str(WIDTH), "-y", str(HEIGHT),
                        f"env -u COLUMNS -u LINES {MAMMOEDGE} fleet monitor --port {broker.port} --refresh 0.5"],
                       check=True)  # the pane's size, not the test runner's COLUMNS
        first = wait_screen(session, lambda lines: len(lines) > 3 and lines[1].startswith(f"{DEVICES} devices")
                            and lines[1].endswith(f"{3 * DEVICES + 1} msgs, 1 ignored")  # every retained one
                            and lines[2].strip().startswith("SITE/DEVICE")
                            and len(device_rows(lines)) > 10)  # a whole frame drawn
        assert first[0].startswith("mammoedge fleet monitor") and "problem-first" in first[0]
        assert first[1].startswith(f"{DEVICES} devices: 58 online, 2 offline") and "silent 1" in first[1]
        assert "1 ignored" in first[1]  # the garbage was counted ...
        assert not any("ghost" in line for line in first)  # ... and made no device
        assert first[2].split()[:3] == ["SITE/DEVICE", "STATE", "PROBLEMS"]
        rows = device_rows(first)
        assert rows[:3] == ["site-a/box-0007", "site-a/box-0031", "site-a/box-0044"]  # problems first
        assert all(len(line) <= WIDTH for line in first) and len(first) <= HEIGHT
        assert len(rows) < DEVICES and len(set(rows)) == len(rows)  # one line per device, more than one screen
        top = rows
        paged = press_until(session, "PageDown", lambda lines: device_rows(lines) and device_rows(lines)[0] != top[0])
        assert paged[0].startswith("mammoedge fleet monitor") and paged[1].startswith(f"{DEVICES} devices")
        assert paged[2].split()[0] == "SITE/DEVICE"  # the header stays while the rows page
        assert set(device_rows(paged)) - set(top)  # devices that were below the first screen
        for _ in range(6):  # refreshes (every 0.5 s) keep the page: the first screen never comes back
            time.sleep(0.25)
            assert device_rows(screen(session))[:1] != top[:1]
        type_filter(session, "box-0042")
        filtered = wait_screen(session, lambda lines: device_rows(lines) == ["site-a/box-0042"])
        assert "filter 'box-0042': 1 shown" in filtered[0]
        subprocess.run(["tmux", "-L", session, "send-keys", "-t", session, "Escape"], check=True)
        wait_screen(session, lambda lines: len(device_rows(lines)) > 10)
        time.sleep(0.5)  # a key right after Escape would be read as Alt+key
        type_filter(session, "offline")
        wait_screen(session, lambda lines: device_rows(lines) == ["site-a/box-0007", "site-a/box-0031"])
        subprocess.run(["tmux", "-L", session, "send-keys", "-t", session, "q"], check=True)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and subprocess.run(["tmux", "-L", session, "has-session", "-t", session],
                                                             capture_output=True).returncode == 0:
            time.sleep(0.2)
        gone = subprocess.run(["tmux", "-L", session, "has-session", "-t", session], capture_output=True)
        assert gone.returncode != 0  # q quits
    finally:
        subprocess.run(["tmux", "-L", session, "kill-server"], capture_output=True)
        broker.stop()


def test_once_json_shows_retained_health_and_metrics(tmp_path):
    broker = Broker(tmp_path).start()
    try:
        publish_fleet(broker.port)
        out = subprocess.run([str(MAMMOEDGE), "fleet", "monitor", "--port", str(broker.port), "--json", "--once",
                              "--timeout", "2"], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        document = json.loads(out.stdout)
        assert document["devices_total"] == DEVICES and document["ignored"] == 1
        devices = {d["device"]: d for d in document["devices"]}
        assert "ghost-9" not in devices
        box = devices["box-0042"]
        assert (box["queue_depth"], box["latency_p50_s"], box["latency_p90_s"], box["latency_p99_s"]) == (
            0, 1.5, 2.5, 3.5)
        assert box["errors"] == 0 and box["exams_analyzed"] == 42 and box["devices"] == ["openvino:CPU"]
        assert box["uptime_s"] == 3600.0 and box["restarts"] == 1 and box["outbox_backlog"] == 0
        assert box["last_seen_retained"] is True and box["last_seen"] <= time.time()
        assert devices["box-0044"]["problems"] == ["silent"]
        assert [d["device"] for d in document["devices"][:3]] == ["box-0007", "box-0031", "box-0044"]
        table = subprocess.run([str(MAMMOEDGE), "fleet", "monitor", "--port", str(broker.port), "--once",
                                "--timeout", "2", "--filter", "silent"], capture_output=True, text=True, timeout=60)
        lines = table.stdout.splitlines()
        assert [line.split()[0] for line in lines[2:]] == ["site-a/box-0044"]
    finally:
        broker.stop()
