"""The health message's ``update`` object: built from the state record, valid against the committed schema."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from mammoedge.firmware.state import (
    Outcome,
    UpdateRecord,
    UpdateState,
    telemetry_fields,
)
from mammoedge.runtime import telemetry
from mammoedge.runtime.telemetry.payloads import PayloadError, build

SCHEMA = json.loads((Path(telemetry.__file__).parent / "schemas" / "health.schema.json").read_text())


def test_schema_enums_are_the_state_machine_enums() -> None:
    update = SCHEMA["properties"]["update"]["properties"]
    assert update["state"]["enum"] == [s.value for s in UpdateState]
    assert update["last_outcome"]["enum"] == [o.value for o in Outcome]


@pytest.mark.parametrize("state", list(UpdateState))
def test_update_object_validates(state: UpdateState) -> None:
    record = UpdateRecord(state=state, last_outcome=Outcome.ROLLED_BACK, last_rule="health-check-failed",
                          target_version="2.0.0")
    payload = json.loads(build("health", cpu_percent=1.0, memory_used_percent=2.0, disk_free_mb=3.0,
                               update=telemetry_fields(record, "1.0.0")))
    jsonschema.validate(payload, SCHEMA)
    assert payload["update"]["state"] == state.value and payload["update"]["version"] == "1.0.0"


def test_update_object_refuses_other_keys() -> None:
    with pytest.raises(PayloadError, match="health.update may only hold"):
        build("health", cpu_percent=1.0, memory_used_percent=2.0, disk_free_mb=3.0,
              update={"state": "idle", "last_outcome": "none", "last_message": "free text"})
