"""``mammoedge serve`` with telemetry on: status online, one event per analyzed exam, offline on SIGTERM."""

import json
import shutil

import pytest

from conftest import Served, clone_exams, storescu
from mqtt_helpers import Broker, Subscriber, check_schema

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
    served.start()
    try:
        assert sub.wait_for(lambda m: m[0] == "mammoedge/v1/site-1/box-1/status" and m[1]["state"] == "online")
        (exam,) = clone_exams(phantom_exam, tmp_path / "src", 1)
        assert storescu(served.port, exam).returncode == 0
        (result,) = served.wait_results(1, timeout=90)
        key = json.loads(result.read_text())["study_key"]
        events = sub.wait_for(lambda m: m[0].endswith("/event"), timeout=30)
        assert [e[1]["study_key"] for e in events] == [key]
        assert events[0][1]["models"] == {"calc-detector": "1.0.0"}
        assert sub.wait_for(lambda m: m[0].endswith("/health") and m[1]["queue_depth"] == 0)
        metrics = sub.wait_for(lambda m: m[0] == "mammoedge/v1/site-1/box-1/metrics"
                               and m[1]["since_start"]["exams_analyzed"] == 1)
        assert metrics, "a metrics message counts the analyzed exam"
        check_schema(metrics[0][1])
        since = metrics[0][1]["since_start"]
        assert since["exams_failed"] == 0 and since["latency_s"]["total"]["n"] == 1
        assert {"read", "total"} <= set(since["latency_s"])
        assert served.terminate() == 0
        assert sub.wait_for(lambda m: m[0].endswith("/status") and m[1]["state"] == "offline")
        published = json.dumps([m[1] for m in sub.messages])
        ds = pydicom.dcmread(exam[0])
        for identifier in (str(ds.PatientName), ds.PatientID, ds.StudyInstanceUID, ds.SOPInstanceUID,
                           str(ds.get("AccessionNumber", "")) or "no-accession"):
            assert identifier not in published
    finally:
        served.terminate()
        sub.close()
        broker.stop()
