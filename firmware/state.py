"""The update state machine's durable record: one JSON file, written with fsync and an atomic rename."""

from __future__ import annotations

import dataclasses
import enum
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import Rule, UpdateError

STATE_SCHEMA_VERSION = 1


class UpdateState(enum.StrEnum):
    """Where an update is (Mender's states, RAUC's "mark good")."""

    IDLE = "idle"
    DOWNLOADING = "downloading"
    VERIFIED = "verified"
    INSTALLING = "installing"
    INSTALLED = "installed"
    STARTING_NEW = "starting-new"
    HEALTH_CHECKING = "health-checking"
    COMMITTED = "committed"
    ROLLING_BACK = "rolling-back"
    FAILED = "failed"


#: states an update rests in (no update in progress)
RESTING = frozenset({UpdateState.IDLE, UpdateState.COMMITTED, UpdateState.FAILED})
#: states before the "current" link is switched to the new slot
BEFORE_SWITCH = frozenset({UpdateState.DOWNLOADING, UpdateState.VERIFIED, UpdateState.INSTALLING,
                           UpdateState.INSTALLED})
#: states in which the new slot runs on trial
TRIAL = frozenset({UpdateState.STARTING_NEW, UpdateState.HEALTH_CHECKING})


class Outcome(enum.StrEnum):
    """How the last update ended."""

    NONE = "none"
    COMMITTED = "committed"
    REFUSED = "refused"
    INTERRUPTED = "interrupted"
    ROLLED_BACK = "rolled-back"


@dataclass(kw_only=True)
class UpdateRecord:
    """Everything the box must remember across a power cut."""

    state: UpdateState = UpdateState.IDLE
    good_slot: str | None = None
    previous_good_slot: str | None = None
    target_slot: str | None = None
    target_version: str | None = None
    trial_starts: int = 0
    #: start times (epoch s) of the committed slot's services, newest last (crash-loop detection)
    starts: list[float] = field(default_factory=list)
    last_outcome: Outcome = Outcome.NONE
    last_rule: str | None = None
    last_message: str | None = None
    last_from_version: str | None = None
    last_to_version: str | None = None
    #: how many updates this box has concluded, and when the last one concluded (epoch s): the
    #: last outcome's identity, from which its one telemetry event is derived
    outcome_seq: int = 0
    outcome_at: float | None = None
    updated_at: float | None = None

    def conclude(self, outcome: Outcome) -> None:
        """Record how this update ended (saved with the resting state that follows)."""
        self.last_outcome = outcome
        self.outcome_seq += 1
        self.outcome_at = round(time.time(), 3)

    @property
    def outcome_key(self) -> str | None:
        """Names the last concluded update (None: none yet): the same key for the same outcome, in any process."""
        if self.last_outcome is Outcome.NONE or self.outcome_at is None:
            return None
        return f"{self.outcome_seq}:{self.outcome_at!r}"

    def as_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["state"] = self.state.value
        data["last_outcome"] = self.last_outcome.value
        return {"schema_version": STATE_SCHEMA_VERSION, **data}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> UpdateRecord:
        if data.get("schema_version") != STATE_SCHEMA_VERSION:
            raise ValueError(f"schema_version {data.get('schema_version')!r} is not {STATE_SCHEMA_VERSION}")
        fields = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in fields}
        values["state"] = UpdateState(values.get("state", "idle"))
        values["last_outcome"] = Outcome(values.get("last_outcome", "none"))
        return cls(**values)


def fsync_dir(directory: Path) -> None:
    """Make a rename or new entry in ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_durably(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path``, fsync it, rename it over ``path``, fsync the folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


class StateFile:
    """The record on disk; a missing file is a fresh install (idle, nothing installed by the updater)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> UpdateRecord:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return UpdateRecord()
        try:
            return UpdateRecord.from_dict(json.loads(raw))
        except (ValueError, TypeError) as exc:
            raise UpdateError(Rule.STATE_FILE, f"update state file {self.path} is unreadable: {exc}") from None

    def save(self, record: UpdateRecord) -> None:
        record.updated_at = round(time.time(), 3)
        write_durably(self.path, json.dumps(record.as_dict(), indent=1, sort_keys=True).encode())


def event_fields(record: UpdateRecord) -> dict[str, Any]:
    """The fields of the one ``update`` event of the last concluded update (rules and versions only, never the
    free-text message)."""
    return {"outcome": record.last_outcome.value, "rule": record.last_rule, "state": record.state.value,
            "from_version": record.last_from_version, "to_version": record.last_to_version,
            "update_seq": record.outcome_seq, "concluded_at": record.outcome_at}


def telemetry_fields(record: UpdateRecord, good_version: str | None) -> dict[str, Any]:
    """The health message's ``update`` object (no identifiers: states, rules and versions only)."""
    return {"state": record.state.value, "last_outcome": record.last_outcome.value, "last_rule": record.last_rule,
            "version": good_version, "target_version": record.target_version}
