"""``mammoedge serve`` with telemetry on: status online, one event per analyzed exam, offline on SIGTERM."""

import json
import subprocess
import shutil
import time

import pytest

from service_helpers import Served, clone_exams, storescu
from mqtt_helpers import (PLANTED, RECORDED, Broker, Subscriber, check_schema, find_leaks, phi_scan_fixture,
                          plant_identifiers)

phi_scan = phi_scan_fixture()  # nothing published in this module may contain a planted identifier

pytestmark = pytest.mark.skipif(shutil.which("mosquitto") is None or shutil.which("storescu") is None,
                                reason="needs mosquitto and dcmtk (apt)")


def test_serve_publishes_exam_event_without_identifiers(phantom_exam, tmp_path):
    import pydicom

    broker = Broker(tmp_path).start()
    sub = Subscriber(broker.port)
    served = Served(tmp_path / "serve")
    text = served.config.read_text() + (f'[telemetry]\nenabled = true\nhost = "127.0.0.1"\nport = {broker.port}\n'
                                        'site = "site-1"\ndevice_id = "box-1"\nhealth_interval_s = 1.0\n'
                                        'metrics_interval_s = 1.0\n')
    served.config.write_text(text)
    cli = subprocess.Popen(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(broker.port), "-t",
                            "mammoedge/v1/site-1/box-1/#", "-v", "-q", "1"], stdout=subprocess.PIPE, text=True)
    served.start()
    try:
        online = sub.wait_for(lambda m: m[0] == "mammoedge/v1/site-1/box-1/status" and m[1]["state"] == "online")
        assert online and online[0][1]["models"]["calc-detector"] == "1.0.0"  # installed versions at connect
        assert "openvino:CPU" in online[0][1]["devices"]  # devices present
        (exam,) = clone_exams(phantom_exam, tmp_path / "src", 1)
        plant_identifiers(exam)
        assert storescu(served.port, exam).returncode == 0
        (result,) = served.wait_results(1, timeout=90)
        document = json.loads(result.read_text())
        key = document["study_key"]
        events = sub.wait_for(lambda m: m[0].endswith("/event"), timeout=30)
        assert [e[1]["study_key"] for e in events] == [key]
        models = events[0][1]["models"]
        assert models == {m["name"]: m["version"] for m in document["result"]["models"]}
        assert set(models) == {"calc-detector", "calc-morphology"}
        assert sub.wait_for(lambda m: m[0].endswith("/health") and m[1]["queue_depth"] == 0
                            and m[1]["devices"] == ["openvino:CPU"])  # the device the exam ran on
        metrics = sub.wait_for(lambda m: m[0] == "mammoedge/v1/site-1/box-1/metrics"
                               and m[1]["since_start"]["exams_analyzed"] == 1)
        assert metrics, "a metrics message counts the analyzed exam"
        check_schema(metrics[0][1])
        since = metrics[0][1]["since_start"]
        assert since["exams_failed"] == 0 and since["latency_s"]["total"]["n"] == 1
        assert {"read", "total"} <= set(since["latency_s"])
        assert served.terminate() == 0
        assert sub.wait_for(lambda m: m[0].endswith("/status") and m[1]["state"] == "offline")
        time.sleep(0.5)
        cli.terminate()
        seen: dict[str, list[dict]] = {}
        for line in cli.communicate(timeout=10)[0].splitlines():  # what the dcmtk-side tool, mosquitto_sub, saw
            topic, payload = line.split(" ", 1)
            seen.setdefault(topic.rsplit("/", 1)[1], []).append(json.loads(payload))
        assert [m["state"] for m in seen["status"]][:1] == ["online"] and seen["status"][-1]["state"] == "offline"
        assert len(seen["event"]) == 1 and seen["health"] and seen["metrics"]
        for documents in seen.values():
            for document in documents:
                check_schema(document)
        ds = pydicom.dcmread(exam[0])
        assert {str(ds.PatientName), ds.PatientID, ds.AccessionNumber, ds.PatientBirthDate} <= PLANTED
        assert not find_leaks(RECORDED, PLANTED)  # the session-end scan repeats this over every test
    finally:
        cli.kill()
        served.terminate()
        sub.close()
        broker.stop()


def test_split_units_worker_events_reach_the_broker_through_the_intake_process(phantom_exam, tmp_path):
    """``--role worker`` never opens MQTT; its event goes through the shared outbox to the intake's reporter."""
    broker = Broker(tmp_path).start()
    sub = Subscriber(broker.port)
    root = tmp_path / "units"
    intake = Served(root)
    telemetry = (f'[telemetry]\nenabled = true\nhost = "127.0.0.1"\nport = {broker.port}\n'
                 'site = "site-1"\ndevice_id = "box-2"\nhealth_interval_s = 1.0\nmetrics_interval_s = 1.0\n')
    worker = Served(root, port=intake.port)  # same state dir and config file (telemetry on for both)
    intake.config.write_text(intake.config.read_text() + telemetry)
    intake.start(role="intake")
    worker.start(role="worker", wait=False)
    try:
        assert sub.wait_for(lambda m: m[0] == "mammoedge/v1/site-1/box-2/status" and m[1]["state"] == "online")
        (exam,) = clone_exams(phantom_exam, tmp_path / "src", 1)
        plant_identifiers(exam)
        assert storescu(intake.port, exam).returncode == 0
        (result,) = intake.wait_results(1, timeout=90)
        key = json.loads(result.read_text())["study_key"]
        assert sub.wait_for(lambda m: m[0].endswith("box-2/event"), timeout=30)
        assert sub.wait_for(lambda m: m[0].endswith("box-2/metrics") and m[1]["since_start"]["exams_analyzed"] == 1)
        time.sleep(1.5)  # any duplicate would arrive within a poll or two
        events = [m[1] for m in sub.messages if m[0].endswith("/event")]
        assert [e["study_key"] for e in events] == [key]
        check_schema(events[0])
        assert broker.connections("box-2") == 1, "only the intake process connects to the broker"
        assert worker.terminate() == 0 and intake.terminate() == 0
        from mammoedge.runtime.telemetry import Outbox

        assert len(Outbox(root / "state" / "telemetry-outbox.sqlite")) == 0
    finally:
        worker.terminate()
        intake.terminate()
        sub.close()
        broker.stop()
