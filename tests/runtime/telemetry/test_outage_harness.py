"""The issue 16 telemetry harness: the broker is down while exams arrive, the service is killed (-9) in the
middle, restarted, the broker comes back; then every event arrives exactly once per study key, the metrics
count exactly the exams analyzed, and a final kill -9 fires a last will that is true.

Real peers: ``mammoedge serve`` as a subprocess, storescu (dcmtk), mosquitto. The CI version sends 8 exams;
``-m slow`` runs the 50 the issue asks for. Figures: ``MAMMOEDGE_HARNESS_REPORT=FILE`` writes them as JSON.
"""

import importlib.util
import json
import os
import time
from pathlib import Path

import pytest

from mqtt_helpers import Broker, Subscriber, check_schema, phi_scan_fixture, plant_identifiers

phi_scan = phi_scan_fixture()  # session end: nothing received may contain a planted identifier

_spec = importlib.util.spec_from_file_location("service_conftest",
                                               Path(__file__).parents[1] / "service" / "service_helpers.py")
service = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(service)


@pytest.fixture(scope="module")
def exam_source(tmp_path_factory) -> Path:
    from mammoedge.tools.phantom import make_exam

    out = tmp_path_factory.mktemp("phantom") / "exam"
    make_exam(out, seed=11, size="small")
    return out


def wait(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def run_harness(exam_source: Path, tmp_path: Path, exams: int) -> dict:
    broker = Broker(tmp_path)  # down while the exams arrive
    served = service.Served(tmp_path / "serve", options={"settle_s": 1.0})
    served.config.write_text(served.config.read_text() + (
        f'[telemetry]\nenabled = true\nhost = "127.0.0.1"\nport = {broker.port}\nsite = "test"\n'
        'device_id = "box-h"\nkeepalive_s = 2\nhealth_interval_s = 1.0\nmetrics_interval_s = 1.0\n'))
    sources = service.clone_exams(exam_source, tmp_path / "src", exams)
    for files in sources:
        plant_identifiers(files)
    sub = None
    started = time.monotonic()
    try:
        served.start()
        killed_after = None
        for i, files in enumerate(sources):
            assert service.storescu(served.port, files).returncode == 0
            if i == exams // 2:  # kill -9 while exams are being analyzed, broker still down
                served.wait_results(max(1, exams // 4), timeout=300)
                served.kill9()
                killed_after = len(served.result_files())
                served.start()
        results = served.wait_results(exams, timeout=60 + 20 * exams)
        keys = {json.loads(p.read_text())["study_key"] for p in results}
        assert len(keys) == exams
        analyzed_at = time.monotonic()
        broker.start()
        sub = Subscriber(broker.port)
        wait(lambda: len({m[1]["study_key"] for m in sub.messages if m[0].endswith("box-h/event")}) >= exams,
             90, "every event")
        since = lambda: [m[1] for m in sub.messages if m[0].endswith("box-h/metrics")]  # noqa: E731
        wait(lambda: since() and since()[-1]["since_start"]["exams_analyzed"] >= exams, 60, "metrics")
        time.sleep(3)  # room for late repeats and one more metrics message
        delivered = [m[1] for m in sub.messages if m[0].endswith("box-h/event")]
        per_key: dict[str, int] = {}
        for event in delivered:
            per_key[event["study_key"]] = per_key.get(event["study_key"], 0) + 1
        metrics = list({m["message_id"]: m for m in since()}.values())
        interval_sum = sum(m["interval"]["exams_analyzed"] for m in metrics)
        online = [m[1] for m in sub.messages if m[0].endswith("box-h/status") and m[1]["state"] == "online"]
        health = [m[1] for m in sub.messages if m[0].endswith("box-h/health")]
        for document in delivered + metrics + online + health:
            check_schema(document)
        # the last will: kill -9 once more, now that the box is connected
        served.kill9()
        killed_at = time.time()
        will = sub.wait_for(lambda m: m[0].endswith("box-h/status") and m[1]["state"] == "offline", timeout=15)
        will_received = time.time()
        assert will, "no last will after kill -9"
        will_doc = will[-1][1]
        check_schema(will_doc)
        return {"exams": exams, "results": len(results), "results_before_kill": killed_after,
                "event_deliveries": len(delivered), "study_keys_with_event": len(per_key),
                "max_deliveries_per_key": max(per_key.values()), "keys_match": set(per_key) == keys,
                "metrics_messages": len(metrics), "metrics_interval_sum": interval_sum,
                "metrics_since_start": metrics[-1]["since_start"]["exams_analyzed"],
                "health_restarts": health[-1]["restarts"], "health_unclean_restarts": health[-1]["unclean_restarts"],
                "will_last_will": will_doc.get("last_will"), "will_models": will_doc.get("models"),
                "will_connected_at_matches": will_doc.get("connected_at") == online[-1]["connected_at"],
                "will_ts_before_kill": will_doc["ts"] <= killed_at,
                "will_delay_s": round(will_received - killed_at, 2),
                "online_models": online[-1].get("models"),
                "seconds_analysis": round(analyzed_at - started, 1)}
    finally:
        if served.proc is not None and served.proc.poll() is None:
            served.proc.kill()
        if sub is not None:
            sub.close()
        broker.stop()


def check(report: dict) -> None:
    exams = report["exams"]
    assert report["results"] == exams and report["keys_match"]
    assert report["study_keys_with_event"] == exams and report["max_deliveries_per_key"] == 1
    assert report["event_deliveries"] == exams  # exactly once on the wire, not only after dropping repeats
    assert report["metrics_interval_sum"] == exams and report["metrics_since_start"] == exams
    assert report["health_restarts"] == 1 and report["health_unclean_restarts"] == 1
    assert report["will_last_will"] is True and report["will_connected_at_matches"] and report["will_ts_before_kill"]
    assert report["will_models"] == report["online_models"] and report["will_models"]
    path = os.environ.get("MAMMOEDGE_HARNESS_REPORT")
    if path:
        Path(path).write_text(json.dumps(report, indent=1))


def test_outage_with_kill_short(exam_source, tmp_path):
    check(run_harness(exam_source, tmp_path, 8))


@pytest.mark.slow
@pytest.mark.harness
def test_outage_with_kill_50_exams(exam_source, tmp_path):
    check(run_harness(exam_source, tmp_path, 50))
