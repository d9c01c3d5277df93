"""Remote commands on ``.../command``: a few safe read-only actions; anything else is refused with a reason.

A command is a JSON object ``{"action": ..., "request_id": ...}`` of at most
:data:`MAX_COMMAND_BYTES`. The reply (``.../command/result``) names the refused
value and the rule it broke; a refused command changes nothing.
"""

from __future__ import annotations

import enum
import json
import re
from dataclasses import dataclass

from ..errors import MammoedgeError

MAX_COMMAND_BYTES = 1024
REQUEST_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
FIELDS = ("action", "request_id")


class Action(enum.StrEnum):
    """The only things the fleet may ask a box to do: send a report now."""

    REPORT_HEALTH = "report_health"
    REPORT_METRICS = "report_metrics"
    REPORT_STATUS = "report_status"


class CommandError(MammoedgeError):
    """A command payload broke a rule; ``rule`` is a short machine-readable name of it."""

    def __init__(self, message: str, *, rule: str, request_id: str | None = None) -> None:
        super().__init__(message)
        self.rule, self.request_id = rule, request_id


@dataclass(frozen=True, kw_only=True)
class Command:
    action: Action
    request_id: str | None = None


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def parse_command(payload: bytes) -> Command:
    """The command in ``payload``, or :class:`CommandError` naming the value and the rule."""
    if len(payload) > MAX_COMMAND_BYTES:
        raise CommandError(f"command of {len(payload)} bytes is over the {MAX_COMMAND_BYTES}-byte limit",
                           rule="size")
    try:
        document = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise CommandError("command is not UTF-8 JSON", rule="json") from None
    if not isinstance(document, dict):
        raise CommandError(f"command must be a JSON object, not {type(document).__name__}", rule="object")
    request_id = document.get("request_id")
    if request_id is not None and (not isinstance(request_id, str) or not REQUEST_ID.match(request_id)):
        raise CommandError(f"request_id {_shown(request_id)} must be 1-64 of A-Z a-z 0-9 _ . -", rule="request_id")
    extra = sorted(set(document) - set(FIELDS))
    if extra:
        raise CommandError(f"field {_shown(extra[0])} is not allowed; allowed: {', '.join(FIELDS)}", rule="fields",
                           request_id=request_id)
    action = document.get("action")
    if action not in {a.value for a in Action}:
        raise CommandError(f"action {_shown(action)} is not allowed; allowed: {', '.join(a.value for a in Action)}",
                           rule="action", request_id=request_id)
    return Command(action=Action(action), request_id=request_id)
