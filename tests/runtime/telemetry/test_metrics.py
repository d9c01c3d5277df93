"""Metrics from a real job queue and result files: counts, nearest-rank percentiles, rejects, two windows."""

import json
from pathlib import Path

import pytest

from mammoedge.runtime.jobs.queue import JobQueue
from mammoedge.runtime.telemetry.health import service_health
from mammoedge.runtime.telemetry.metrics import CollectorState, MetricsCollector, percentile
from mammoedge.runtime.telemetry.payloads import ALLOWED, COMMON, PayloadError, build
from mqtt_helpers import phi_scan_fixture

phi_scan = phi_scan_fixture()  # session end: nothing received may contain a planted identifier


def analyzed(queue: JobQueue, results: Path, key: str, *, at: float, flagged: bool, read_s: float,
             fail: bool = False) -> None:
    """One exam through the queue as the service does it: instance, assemble, claim, result file, finish."""
    queue.add_instance(instance_key=f"i-{key}", study_key=key, path=results / f"{key}.dcm", view_name="RCC",
                       intake="dimse", now=at - 5)
    queue.assemble(settle_s=0, now=at - 4)
    job = queue.claim(now=at - 3)
    if fail:
        queue.fail(job, "no-pixel-data", max_attempts=1, now=at)
        return
    path = results / f"{key}.json"
    path.write_text(json.dumps({"study_key": key, "started_at": at - 3, "completed_at": at - 3 + 2 * read_s,
                                "result": {"triage": {"flagged": flagged},
                                           "models": [{"name": "calc-detector", "version": "1.0.0",
                                                       "backend": "openvino", "device": "GPU.0"}],
                                           "timings": [{"stage": "read", "seconds": read_s}]}}))
    queue.finish(job, path, now=at)


def test_percentile_is_nearest_rank():
    values = [float(v) for v in range(1, 101)]
    assert [percentile(values, q) for q in (50, 90, 99)] == [50.0, 90.0, 99.0]
    assert percentile([7.0], 99) == 7.0


def test_collector_counts_each_exam_once_per_window(tmp_path):
    queue = JobQueue(tmp_path / "queue.sqlite")
    collector = MetricsCollector(queue, started_at=1000.0)
    analyzed(queue, tmp_path, "a" * 32, at=1010.0, flagged=True, read_s=1.0)
    analyzed(queue, tmp_path, "b" * 32, at=1020.0, flagged=False, read_s=3.0)
    analyzed(queue, tmp_path, "c" * 32, at=1025.0, flagged=False, read_s=0.0, fail=True)
    queue.record_event("quarantine", "no-laterality", now=1021.0)
    queue.record_event("quarantine", "no-laterality", now=1022.0)
    first = collector.collect(1030.0)
    assert first["interval_s"] == 30.0 and first["uptime_s"] == 30.0
    window = first["interval"]
    assert (window["exams_analyzed"], window["flags_raised"], window["exams_failed"]) == (2, 1, 1)
    assert window["latency_s"]["read"] == {"p50": 1.0, "p90": 3.0, "p99": 3.0, "n": 2}
    assert window["latency_s"]["total"]["p50"] == 2.0
    assert window["rejects"] == {"analysis:no-pixel-data": 1, "quarantine:no-laterality": 2}
    health = service_health(queue, now=1030.0)  # the device comes from the newest result, not from a collector
    assert (health["devices"], health["device_fallback"], health["exams_failed"]) == (["openvino:GPU.0"], False, 1)
    assert health["last_exam_age_s"] == 10.0 and health["errors"]["quarantine:no-laterality"] == 2
    # an exam whose finish is committed late (finished_at before the last collection) is still counted, once
    analyzed(queue, tmp_path, "d" * 32, at=1028.0, flagged=True, read_s=5.0)
    second = collector.collect(1060.0)
    assert second["interval"]["exams_analyzed"] == 1 and second["interval"]["flags_raised"] == 1
    assert second["interval"]["rejects"] == {}
    assert second["since_start"]["exams_analyzed"] == 3 and second["since_start"]["flags_raised"] == 2
    assert second["since_start"]["latency_s"]["read"]["n"] == 3
    assert collector.collect(1090.0)["interval"]["exams_analyzed"] == 0
    document = json.loads(build("metrics", **second))
    check_schema(document)
    queue.close()


def check_schema(document):
    import jsonschema

    from mammoedge.runtime import telemetry

    schema_file = Path(telemetry.__file__).parent / "schemas" / f"{document['type']}.schema.json"
    jsonschema.validate(document, json.loads(schema_file.read_text()))


def test_allow_lists_match_the_committed_schemas():
    from mammoedge.runtime import telemetry

    for kind, fields in ALLOWED.items():
        schema = json.loads((Path(telemetry.__file__).parent / "schemas" / f"{kind}.schema.json").read_text())
        assert set(schema["properties"]) == set(fields) | set(COMMON), kind
        assert schema["additionalProperties"] is False


def test_metrics_window_refuses_unlisted_keys():
    window = {"exams_analyzed": 0, "flags_raised": 0, "exams_failed": 0, "latency_s": {}, "rejects": {},
              "patient_id": "123"}
    with pytest.raises(PayloadError, match="metrics.interval may only hold"):
        build("metrics", interval_s=1.0, uptime_s=1.0, interval=window, since_start=window)


def test_collector_state_survives_a_restart_every_exam_in_one_interval(tmp_path):
    """The stored state resumes counting where the last queued message ended: nothing lost, nothing twice."""
    queue = JobQueue(tmp_path / "queue.sqlite")
    first = MetricsCollector(queue, started_at=1000.0)
    analyzed(queue, tmp_path, "a" * 32, at=1010.0, flagged=True, read_s=1.0)
    fields, state = first.prepare(1020.0)
    assert fields["interval"]["exams_analyzed"] == 1
    first.adopt(state)
    stored = state.dumps()  # what the reporter commits with the metrics message
    analyzed(queue, tmp_path, "b" * 32, at=1030.0, flagged=False, read_s=2.0)
    unsent, _ = first.prepare(1040.0)  # prepared but never stored: the process is killed here
    assert unsent["interval"]["exams_analyzed"] == 1
    analyzed(queue, tmp_path, "c" * 32, at=1050.0, flagged=True, read_s=3.0)
    second = MetricsCollector(queue, started_at=1060.0, state=CollectorState.loads(stored))
    resumed = second.collect(1070.0)
    assert resumed["interval"]["exams_analyzed"] == 2 and resumed["interval"]["flags_raised"] == 1  # b and c
    assert resumed["since_start"]["exams_analyzed"] == 3 and resumed["since_start"]["latency_s"]["read"]["n"] == 3
    assert resumed["counting_since"] == 1000.0 and resumed["uptime_s"] == 10.0 and resumed["interval_s"] == 50.0
    assert second.collect(1080.0)["interval"]["exams_analyzed"] == 0
    check_schema(json.loads(build("metrics", **resumed)))
    queue.close()


def test_leak_scan_finds_planted_identifiers():
    from mqtt_helpers import find_leaks

    planted = {"PLANTEDSURNAME^JANEFIRST^Q", "PLANTEDSURNAME", "1.2.826.0.1.3680043.8.498.1"}
    records = [("t/event", b'{"note": "plantedsurname jane"}'), ("t/health", b'{"uid": "1.2.826.0.1.3680043.8.498.1"}'),
               ("t/ok", b'{"study_key": "00ff"}')]
    assert sorted(find_leaks(records, planted)) == [("t/event", "PLANTEDSURNAME"),
                                                    ("t/health", "1.2.826.0.1.3680043.8.498.1")]


def test_health_carries_the_update_state_from_the_update_root(tmp_path):
    """``update_fields``: the state machine's record and the good slot's version, valid in a health message."""
    from dataclasses import replace

    from mammoedge.firmware.slots import Link, Slot, SlotStore
    from mammoedge.firmware.state import Outcome, StateFile, UpdateRecord, UpdateState
    from mammoedge.runtime.config import Config
    from mammoedge.runtime.telemetry.inventory import update_fields

    config = Config()
    config = replace(config, update=replace(config.update, root=tmp_path / "nowhere"))
    assert update_fields(config) == {}  # a box without an update root says nothing about updates
    root = tmp_path / "update"
    (root / "slots" / "a").mkdir(parents=True)
    store = SlotStore(root)
    store.seal(Slot.A, version="1.4.0", software_version="0.1.0", kind="full", manifest={})
    store.switch(Link.GOOD, Slot.A)
    StateFile(root / "update-state.json").save(UpdateRecord(state=UpdateState.IDLE, last_outcome=Outcome.ROLLED_BACK,
                                                            last_rule="health-check-failed", target_version="1.5.0"))
    fields = update_fields(replace(config, update=replace(config.update, root=root)))
    assert fields["update"] == {"state": "idle", "last_outcome": "rolled-back", "last_rule": "health-check-failed",
                                "version": "1.4.0", "target_version": "1.5.0"}
    check_schema(json.loads(build("health", cpu_percent=1.0, memory_used_percent=1.0, disk_free_mb=1.0, **fields)))
