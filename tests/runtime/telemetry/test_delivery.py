"""Issue 16 items 9-12 and 14 against a real mosquitto: one owner of retransmission, a true last will,
events derived from the queue's done state after a kill -9, health figures under ProcSubset=pid, "busy"."""

import json
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from mammoedge.runtime.config import TelemetryConfig
from mammoedge.runtime.jobs.queue import JobQueue
from mammoedge.runtime.telemetry import ExamEvent, Outbox, Reporter
from mqtt_helpers import Broker, Subscriber, check_schema, phi_scan_fixture

phi_scan = phi_scan_fixture()  # session end: nothing received may contain a planted identifier

ROOT = Path(__file__).resolve().parents[3]


def events(sub: Subscriber, device: str) -> list[dict]:
    with sub.lock:
        return [m[1] for m in sub.messages if m[0] == f"mammoedge/v1/test/{device}/event"]


def test_frozen_broker_each_event_delivered_once(tmp_path):
    """SIGSTOP the broker with 3 events in flight, the client times out and reconnects: 3 deliveries, not 6."""
    broker = Broker(tmp_path).start()
    sub = Subscriber(broker.port)
    config = TelemetryConfig(enabled=True, host="127.0.0.1", port=broker.port, site="test", device_id="dev-f",
                             keepalive_s=1, health_interval_s=3600, metrics_interval_s=3600)
    reporter = Reporter(config, tmp_path / "state")
    reporter.start()
    try:
        assert sub.wait_for(lambda m: m[0].endswith("dev-f/status") and m[1]["state"] == "online")
        broker.proc.send_signal(signal.SIGSTOP)
        for i in range(3):
            reporter.exam_analyzed(ExamEvent(study_key=f"{i:032x}", flag=False, started_at=100.0 + i))
        time.sleep(4)  # > 1.5 keep-alives: paho gives the connection up and tries again
        broker.proc.send_signal(signal.SIGCONT)
        assert sub.wait_for(lambda m: m[0].endswith("dev-f/event") and m[1]["study_key"] == f"{2:032x}")
        deadline = time.monotonic() + 20
        while len(reporter.outbox) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(reporter.outbox) == 0  # every row acknowledged
        time.sleep(2)  # room for any late duplicate
        delivered = events(sub, "dev-f")
        assert len(delivered) == 3, [e["study_key"][-2:] for e in delivered]  # each once on the wire, too
        assert sorted(e["study_key"] for e in delivered) == [f"{i:032x}" for i in range(3)]
        assert broker.connections("dev-f") >= 2  # it did reconnect
    finally:
        broker.proc.send_signal(signal.SIGCONT)
        reporter.stop()
        sub.close()
        broker.stop()


WILL_SCRIPT = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from mammoedge.runtime.config import TelemetryConfig
    from mammoedge.runtime.telemetry import Reporter
    port, state = int(sys.argv[1]), Path(sys.argv[2])
    config = TelemetryConfig(enabled=True, host="127.0.0.1", port=port, site="test", device_id="dev-w",
                             keepalive_s=1, health_interval_s=3600, metrics_interval_s=3600)
    reporter = Reporter(config, state, status_source=lambda: {"models": {"calc-detector": "1.0.0"},
                                                              "devices": ["openvino:CPU"]})
    print("created", time.time(), flush=True)
    time.sleep(2)
    reporter.start()
    time.sleep(600)
""")


def test_last_will_belongs_to_the_last_connection_and_names_models(tmp_path):
    """The will is rebuilt before each connection: after a broker restart and a kill -9 it says when the
    last connection was made (not the process start) and carries the models and devices."""
    broker = Broker(tmp_path).start()
    sub = Subscriber(broker.port)
    script = tmp_path / "will.py"
    script.write_text(WILL_SCRIPT)
    proc = subprocess.Popen([sys.executable, str(script), str(broker.port), str(tmp_path / "state")],
                            stdout=subprocess.PIPE, text=True)
    try:
        created = float(proc.stdout.readline().split()[1])
        first = sub.wait_for(lambda m: m[0].endswith("dev-w/status") and m[1]["state"] == "online")
        assert first and first[0][1]["connected_at"] >= created + 1.9
        sub.close()
        broker.stop()
        time.sleep(1.5)
        broker.start()  # the device reconnects: a new connection, a new will
        sub = Subscriber(broker.port)
        second = sub.wait_for(lambda m: m[0].endswith("dev-w/status") and m[1]["state"] == "online"
                              and m[1]["connected_at"] > first[0][1]["connected_at"] + 1, timeout=30)
        assert second
        proc.send_signal(signal.SIGKILL)
        killed_at = time.time()
        proc.wait(5)
        will = sub.wait_for(lambda m: m[0].endswith("dev-w/status") and m[1]["state"] == "offline", timeout=10)
        assert will
        document = will[0][1]
        check_schema(document)
        assert document["last_will"] is True
        assert document["connected_at"] == second[0][1]["connected_at"] and document["ts"] < killed_at
        assert document["ts"] >= second[0][1]["connected_at"] - 0.01  # this connection's, not the process start
        assert document["models"] == {"calc-detector": "1.0.0"} and document["devices"] == ["openvino:CPU"]
    finally:
        proc.kill()
        sub.close()
        broker.stop()


KILLED_WORKER = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    from mammoedge.runtime.jobs.queue import JobQueue
    from mammoedge.runtime.service.exam_job import AnalyzerOutput
    from mammoedge.runtime.service.worker import run_job
    db, results = Path(sys.argv[1]), Path(sys.argv[2])
    queue = JobQueue(db)
    job = queue.claim()
    # the hook runs after the exam is marked done; the process is killed there, before the event is queued
    run_job(job, queue=queue, analyzer=lambda paths, missing: AnalyzerOutput(result={"triage": {"flagged": True}}),
            results_dir=results, max_attempts=3,
            on_done=lambda document: os.kill(os.getpid(), signal.SIGKILL))
""")


def test_event_of_an_exam_killed_after_done_is_derived_at_start(tmp_path):
    """kill -9 between "done" and the outbox: the next reporter derives the event from the queue, once."""
    broker = Broker(tmp_path).start()
    sub = Subscriber(broker.port)
    state = tmp_path / "state"
    results = state / "results"
    results.mkdir(parents=True)
    queue = JobQueue(state / "queue.sqlite")
    config = TelemetryConfig(enabled=True, host="127.0.0.1", port=broker.port, site="test", device_id="dev-k",
                             health_interval_s=3600, metrics_interval_s=3600)
    Reporter(config, state, queue=queue).outbox.close()  # telemetry existed before: its watermark is set
    key = "ab" * 16
    queue.add_instance(instance_key="i1", study_key=key, path=state / "x.dcm", view_name="RCC", intake="dimse")
    queue.assemble(settle_s=0)
    script = tmp_path / "worker.py"
    script.write_text(KILLED_WORKER)
    proc = subprocess.run([sys.executable, str(script), str(queue.path), str(results)], timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert queue.exam(key)["state"] == "done"
    assert len(Outbox(state / "telemetry-outbox.sqlite")) == 0  # the event never reached the outbox
    reporter = Reporter(config, state, queue=queue)
    reporter.start()
    try:
        found = sub.wait_for(lambda m: m[0].endswith("dev-k/event"))
        assert [e[1]["study_key"] for e in found] == [key] and found[0][1]["flag"] is True
        check_schema(found[0][1])
        from mammoedge.runtime.telemetry import exam_event

        reporter.exam_analyzed(exam_event(json.loads((results / f"{key}.json").read_text())))  # the hook, late
        time.sleep(1.5)
        assert len(events(sub, "dev-k")) == 1  # the same result gets one event, whoever queues it
    finally:
        reporter.stop()
        queue.close()
        sub.close()
        broker.stop()


def test_failed_outbox_write_is_retried_from_the_done_state(tmp_path):
    """The hook's outbox write fails (here: the outbox file is read-only, as on a full disk the write
    fails); the reconciler queues the event once the outbox can be written again."""
    from mammoedge.runtime.telemetry.events import EventReconciler

    state = tmp_path / "state"
    queue = JobQueue(state / "queue.sqlite")
    outbox = Outbox(state / "outbox.sqlite")
    reconciler = EventReconciler(queue, outbox, "mammoedge/v1/test/dev-r/event", now=1000.0)
    key = "cd" * 16
    queue.add_instance(instance_key="i1", study_key=key, path=state / "x.dcm", view_name="RCC", intake="dimse",
                       now=1001.0)
    queue.assemble(settle_s=0, now=1002.0)
    job = queue.claim(now=1003.0)
    result = state / f"{key}.json"
    result.write_text(json.dumps({"study_key": key, "started_at": 1003.5, "completed_at": 1004.0, "result": {}}))
    queue.finish(job, result, now=1005.0)
    readonly = Outbox(state / "outbox.sqlite")
    readonly._db.execute("PRAGMA query_only=ON")
    from mammoedge.runtime.telemetry.events import queue_event
    from mammoedge.runtime.telemetry import exam_event

    with pytest.raises(sqlite3.OperationalError):  # the hook's write fails; the worker logs it and goes on
        queue_event(readonly, "mammoedge/v1/test/dev-r/event", exam_event(json.loads(result.read_text())))
    assert len(outbox) == 0
    assert reconciler.run(now=1006.0) == 1
    assert reconciler.run(now=1007.0) == 0  # once
    assert len(outbox) == 1
    (row,) = outbox.pending()
    assert json.loads(row[2])["study_key"] == key and row[3] == 2  # QoS 2
    queue.close()


PROBE = textwrap.dedent("""
    import json, time
    from pathlib import Path
    from mammoedge.runtime.telemetry.health import CpuSampler, system_health
    cpu = CpuSampler()
    time.sleep(0.5)
    print(json.dumps(system_health(Path("/tmp"), cpu)))
""")


def test_health_figures_under_procsubset_pid(tmp_path):
    """ProcSubset=pid (a /proc with only process directories, mounted as systemd does): memory and load are
    still true figures (sysinfo), CPU is null, not a made-up number; with the full /proc all come from /proc."""
    script = tmp_path / "probe.py"
    script.write_text(PROBE)
    full = json.loads(subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                                     check=True).stdout)
    assert full["memory_source"] == "meminfo" and 0 < full["memory_used_percent"] < 100
    assert full["cpu_percent"] is not None and 0 <= full["cpu_percent"] <= 100
    hidden = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                             f"mount -t proc -o subset=pid proc /proc && test ! -e /proc/meminfo && "
                             f"{sys.executable} {script}"], capture_output=True, text=True)
    assert hidden.returncode == 0, hidden.stderr  # needs root (CAP_SYS_ADMIN) for the mount namespace
    figures = json.loads(hidden.stdout)
    assert figures["memory_source"] == "sysinfo" and 0 < figures["memory_used_percent"] < 100
    assert figures["cpu_percent"] is None and figures["load_1m"] is not None and figures["load_1m"] >= 0
    # sysinfo counts the page cache as used, so it reads at least what MemAvailable says (a few % of drift allowed)
    assert figures["memory_used_percent"] >= full["memory_used_percent"] - 5


def test_commands_over_the_rate_limit_are_answered_busy(tmp_path):
    broker = Broker(tmp_path).start()
    sub = Subscriber(broker.port)
    config = TelemetryConfig(enabled=True, host="127.0.0.1", port=broker.port, site="test", device_id="dev-b",
                             health_interval_s=3600, metrics_interval_s=3600)
    reporter = Reporter(config, tmp_path / "state")
    reporter.start()
    results = "mammoedge/v1/test/dev-b/command/result"
    try:
        assert sub.wait_for(lambda m: m[0].endswith("dev-b/status") and m[1]["state"] == "online")
        time.sleep(0.5)
        for i in range(30):
            sub.client.publish("mammoedge/v1/test/dev-b/command",
                               json.dumps({"action": "report_status", "request_id": f"q{i}"}), qos=1)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and len([m for m in sub.messages if m[0] == results]) < 30:
            time.sleep(0.1)
        replies = {m[1]["request_id"]: m[1] for m in sub.messages if m[0] == results}
        assert len(replies) == 30  # every command gets exactly one answer
        busy = [r for r in replies.values() if r.get("rule") == "busy"]
        done = [r for r in replies.values() if r["accepted"]]
        assert len(done) >= 10 and len(busy) >= 10 and len(done) + len(busy) == 30
        assert "rate limit" in busy[0]["error"]
        for reply in replies.values():
            check_schema(reply)
        time.sleep(1.2)  # the bucket refills: the next command runs
        sub.publish("mammoedge/v1/test/dev-b/command", json.dumps({"action": "report_health", "request_id": "z"}))
        assert sub.wait_for(lambda m: m[0] == results and m[1].get("request_id") == "z" and m[1]["accepted"])
        health = sub.wait_for(lambda m: m[0].endswith("dev-b/health"))
        assert health[-1][1]["commands_busy"] == len(busy)
    finally:
        reporter.stop()
        sub.close()
        broker.stop()


FULL_DISK = textwrap.dedent("""
    import json, os, sys
    from pathlib import Path
    from mammoedge.runtime.config import TelemetryConfig
    from mammoedge.runtime.jobs.queue import JobQueue
    from mammoedge.runtime.telemetry import ExamEvent, Reporter
    state = Path(sys.argv[1])
    config = TelemetryConfig(enabled=True, host="127.0.0.1", port=1, site="test", device_id="dev-full")
    queue = JobQueue(state / "queue.sqlite")
    first = Reporter(config, state, queue=queue)
    first.start()
    first.stop(timeout=0.5)
    fd = os.open(state / "filler", os.O_WRONLY | os.O_CREAT)  # fill the file system to the last byte
    for size in (65536, 1):
        try:
            while True:
                os.write(fd, b"x" * size)
        except OSError:
            pass
    os.close(fd)
    second = Reporter(config, state, queue=queue)
    second.start()  # must not raise: the outbox cannot even be opened
    full = second.health_fields()
    (state / "filler").unlink()  # space returns
    second.exam_analyzed(ExamEvent(study_key="e" * 32, flag=True, started_at=5.0))
    freed = second.health_fields()
    second.stop(timeout=0.5)
    print(json.dumps({"full": full, "freed": freed}))
""")


def test_reporter_starts_on_a_full_disk(tmp_path):
    """A full state file system (a 32 MB tmpfs filled up): the reporter still starts and reports health."""
    script = tmp_path / "full.py"
    script.write_text(FULL_DISK)
    state = tmp_path / "state"
    state.mkdir()
    run = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                          f"mount -t tmpfs -o size=32m tmpfs {state} && {sys.executable} {script} {state}"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]  # needs root (CAP_SYS_ADMIN) for the tmpfs
    figures = json.loads(run.stdout.strip().splitlines()[-1])
    full, freed = figures["full"], figures["freed"]
    assert full["disk_free_mb"] == 0.0 and full["queue_depth"] == 0  # health without the outbox's figures
    assert "outbox_backlog" not in full and "outbox figures unavailable" in run.stderr
    assert freed["disk_free_mb"] > 0 and freed["outbox_backlog"] == 1  # the outbox opened once space returned
    assert freed["restarts"] == 0  # the start on the full disk could not be counted (logged)
    assert "restart counters not written" in run.stderr
