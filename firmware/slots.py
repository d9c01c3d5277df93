"""A/B slots: two directories (wheelhouse + venv + models), a ``current`` and a ``good`` link switched atomically.

Layout under the update root (``/opt/mammoedge``)::

    slots/a/  slots/b/     each: slot.json (written last), wheelhouse/, venv/, models/
    current -> slots/a     what the services run
    good    -> slots/a     the last committed slot (the updater itself runs from here)
"""

from __future__ import annotations

import enum
import json
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import Rule, SlotError
from .state import fsync_dir, write_durably
from ..runtime.digest import file_sha256

log = logging.getLogger(__name__)

SLOT_RECORD = "slot.json"
#: slot sub-directories whose files are hashed into slot.json (the venv is rebuilt from the wheelhouse)
HASHED_DIRS = ("wheelhouse", "models", "migrations")


class Slot(enum.StrEnum):
    """The two slots."""

    A = "a"
    B = "b"

    def other(self) -> Slot:
        return Slot.B if self is Slot.A else Slot.A


class Link(enum.StrEnum):
    """The two switched links."""

    CURRENT = "current"
    GOOD = "good"


@dataclass(frozen=True, kw_only=True)
class SlotInfo:
    """What a complete slot holds (its ``slot.json``)."""

    slot: Slot
    version: str
    software_version: str
    kind: str
    files: dict[str, str]
    manifest: dict[str, Any]


def hash_tree(root: Path) -> dict[str, str]:
    """``relative path -> sha256`` of every file under ``root``'s hashed sub-directories."""
    files: dict[str, str] = {}
    for name in HASHED_DIRS:
        base = root / name
        if base.is_dir():
            for path in sorted(p for p in base.rglob("*") if p.is_file()):
                files[path.relative_to(root).as_posix()] = file_sha256(path)
    return files


class SlotStore:
    """The slots and links under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, slot: Slot) -> Path:
        return self.root / "slots" / slot.value

    def link(self, link: Link) -> Slot | None:
        """The slot a link points at (None: no link yet)."""
        try:
            target = os.readlink(self.root / link.value)
        except FileNotFoundError:
            return None
        return Slot(Path(target).name)

    def switch(self, link: Link, slot: Slot) -> None:
        """Point ``link`` at ``slot`` atomically (a new symlink renamed over the old one)."""
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / f".{link.value}.tmp"
        tmp.unlink(missing_ok=True)
        os.symlink(f"slots/{slot.value}", tmp)
        os.replace(tmp, self.root / link.value)
        fsync_dir(self.root)
        log.info("%s -> slot %s", link.value, slot.value)

    def info(self, slot: Slot) -> SlotInfo | None:
        """The slot's record, or None when the slot is empty or was never completed."""
        try:
            data = json.loads((self.path(slot) / SLOT_RECORD).read_text())
        except FileNotFoundError:
            return None
        except ValueError:
            return None
        return SlotInfo(slot=slot, version=str(data["version"]), software_version=str(data["software_version"]),
                        kind=str(data["kind"]), files=dict(data["files"]), manifest=dict(data["manifest"]))

    def verify(self, slot: Slot) -> SlotInfo:
        """The slot's record, after checking every recorded file's sha256 and that no file was added."""
        info = self.info(slot)
        if info is None:
            raise SlotError(Rule.NO_GOOD_SLOT, f"slot {slot.value} is empty or incomplete (no {SLOT_RECORD})")
        actual = hash_tree(self.path(slot))
        if actual != info.files:
            changed = sorted(set(actual.items()) ^ set(info.files.items()))
            raise SlotError(Rule.PAYLOAD_HASH, f"slot {slot.value}: {len(changed)} file(s) differ from {SLOT_RECORD}, "
                                               f"first {changed[0][0]}")
        return info

    def seal(self, slot: Slot, *, version: str, software_version: str, kind: str, manifest: dict[str, Any]) -> SlotInfo:
        """Write ``slot.json`` (last step of an install): from now on the slot counts as complete."""
        root = self.path(slot)
        files = hash_tree(root)
        record = {"version": version, "software_version": software_version, "kind": kind, "files": files,
                  "manifest": manifest}
        write_durably(root / SLOT_RECORD, json.dumps(record, indent=1, sort_keys=True).encode())
        return SlotInfo(slot=slot, version=version, software_version=software_version, kind=kind, files=files,
                        manifest=manifest)

    def wipe(self, slot: Slot) -> None:
        """Empty a slot (its record goes first, so a half-wiped slot is never taken for a complete one)."""
        root = self.path(slot)
        (root / SLOT_RECORD).unlink(missing_ok=True)
        if root.exists():
            fsync_dir(root)
            shutil.rmtree(root)
        root.mkdir(parents=True)
