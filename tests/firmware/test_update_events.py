"""One MQTT event per update, derived from the update state file's outcome; health carries the update state.

A real mosquitto on 127.0.0.1. The updater never talks to the broker: it writes each outcome to its
state file; the reporter's UpdateEventReconciler queues one ``update`` message per outcome through
the durable outbox, marking it in the same transaction. So an updater killed right after writing
the outcome loses nothing, and a reporter started again does not send it twice.
"""

from __future__ import annotations

import dataclasses
import signal
from pathlib import Path

from firmware_helpers import Fault, Lab, apply_in_child, fake_manager, repo_with, source_for
from mqtt_helpers import Broker, Subscriber, check_schema

from mammoedge.firmware.state import Outcome, StateFile, UpdateState
from mammoedge.runtime.config import TelemetryConfig, load_config
from mammoedge.runtime.telemetry import Reporter
from mammoedge.runtime.telemetry.inventory import update_fields

DEVICE = "dev-fw"
EVENT_TOPIC = f"mammoedge/v1/test/{DEVICE}/event"


def _reporter(port: int, state_dir: Path, box: Path) -> Reporter:
    telemetry = TelemetryConfig(enabled=True, host="127.0.0.1", port=port, site="test", device_id=DEVICE,
                                keepalive_s=5, health_interval_s=0.3)
    base = load_config(env={})
    config = dataclasses.replace(base, update=dataclasses.replace(base.update, root=box))
    return Reporter(telemetry, state_dir, health_source=lambda: update_fields(config),
                    update_state=box / "update-state.json")


def _update_events(sub: Subscriber) -> list[dict]:
    with sub.lock:
        return [m[1] for m in sub.messages if m[0] == EVENT_TOPIC and m[1].get("type") == "update"]


def test_one_event_per_update_across_a_kill_and_restarts(box: Path, lab: Lab, tmp_path: Path) -> None:
    repo = repo_with(lab, tmp_path / "repo", "v2").repo_dir
    # the updater is killed (power cut) right after it wrote "committed": no one has sent anything yet
    assert apply_in_child(box, repo, UpdateState.COMMITTED, Fault.KILL) == -signal.SIGKILL
    assert StateFile(box / "update-state.json").load().last_outcome is Outcome.COMMITTED

    broker = Broker(tmp_path).start()
    sub = Subscriber(broker.port)
    state_dir = tmp_path / "state"
    try:
        reporter = _reporter(broker.port, state_dir, box)
        reporter.start()
        try:
            first = sub.wait_for(lambda m: m[0] == EVENT_TOPIC and m[1].get("type") == "update")
            assert first, "the committed update's event was not derived from the state file"
            health = sub.wait_for(lambda m: m[0].endswith(f"{DEVICE}/health") and "update" in m[1])
            assert health, "health carries no update object"
        finally:
            reporter.stop()
        event = first[0][1]
        check_schema(event)
        assert (event["outcome"], event["state"], event["from_version"], event["to_version"], event["rule"]) == \
            ("committed", "committed", "1.0.0", "2.0.0", None)
        check_schema(health[0][1])
        assert health[0][1]["update"] == {"state": "committed", "last_outcome": "committed", "last_rule": None,
                                          "version": "2.0.0", "target_version": None}

        # a restart of the reporter: the outcome is already marked, nothing is queued again; and an hourly
        # check that finds nothing newer concludes no update
        manager = fake_manager(box)
        assert manager.apply(source_for(box, repo)).outcome_seq == 1
        again = _reporter(broker.port, state_dir, box)
        assert again.update_events is not None and again.update_events.run() is False and len(again.outbox) == 0
        again.outbox.close()

        # two more updates: an operator rollback, then a refusal (no repository); one event each
        assert manager.rollback().last_outcome is Outcome.ROLLED_BACK
        reporter = _reporter(broker.port, state_dir, box)
        reporter.start()
        try:
            assert sub.wait_for(lambda m: m[0] == EVENT_TOPIC and m[1].get("outcome") == "rolled-back")
            assert manager.apply(source_for(box, tmp_path / "no-such-repo")).last_outcome is Outcome.REFUSED
            refused = sub.wait_for(lambda m: m[0] == EVENT_TOPIC and m[1].get("outcome") == "refused")
            assert refused and refused[0][1]["rule"] == "repository-unreachable"
            assert reporter.update_events is not None and reporter.update_events.run() is False
        finally:
            reporter.stop()
        events = _update_events(sub)
        assert [e["outcome"] for e in events] == ["committed", "rolled-back", "refused"]
        assert [e["update_seq"] for e in events] == [1, 2, 3]
        assert len({e["message_id"] for e in events}) == 3
        for e in events:
            check_schema(e)
            assert "last_message" not in e and "message" not in e  # rules and versions only, no free text
    finally:
        sub.close()
        broker.stop()
