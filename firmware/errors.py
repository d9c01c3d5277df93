"""Typed errors of the update layer; each names the rule it enforces (``rule``)."""

from __future__ import annotations

import enum

from mammoedge.runtime.errors import StateError
from mammoedge.runtime.errors import UpdateError as UpdateErrorBranch


class Rule(enum.StrEnum):
    """The rule an update was refused or abandoned under (also the telemetry ``last_rule``)."""

    # TUF (signed metadata) attacks
    TAMPERED_PAYLOAD = "tampered-payload"
    UNTRUSTED_KEY = "untrusted-key"
    BELOW_THRESHOLD = "signatures-below-threshold"
    EXPIRED = "expired-metadata"
    FREEZE = "freeze"
    METADATA_ROLLBACK = "metadata-rollback"
    MIX_AND_MATCH = "mix-and-match"
    OVERSIZED = "oversized-download"
    INVALID_METADATA = "invalid-metadata"
    UNREACHABLE = "repository-unreachable"
    NO_UPDATE = "no-bundle-in-repository"
    # bundle rules
    INVALID_MANIFEST = "invalid-manifest"
    PAYLOAD_HASH = "payload-hash"
    DOWNGRADE = "downgrade"
    MIN_FROM_VERSION = "min-from-version"
    INCOMPATIBLE = "incompatible"
    # slots and the state machine
    BUSY = "update-in-progress"
    INSTALL = "install-failed"
    START = "start-failed"
    HEALTH = "health-check-failed"
    TRIAL_STARTS = "trial-start-limit"
    CRASH_LOOP = "crash-loop"
    NO_GOOD_SLOT = "no-good-slot"
    STATE_FILE = "state-file"
    INTERRUPTED = "interrupted"
    OPERATOR = "operator-request"


class UpdateError(UpdateErrorBranch):
    """An update step was refused or failed; ``rule`` says which rule."""

    def __init__(self, rule: Rule, message: str) -> None:
        super().__init__(f"{message} (rule: {rule.value})")
        self.rule = rule


class VerificationError(UpdateError):
    """The update repository's signed metadata or a downloaded target was refused (TUF)."""


class BundleError(UpdateError):
    """A bundle's manifest or payload breaks a rule (hashes, downgrade, compatibility)."""


class SlotError(UpdateError):
    """An A/B slot is missing, incomplete, or its files do not match its record."""


class HealthCheckError(UpdateError):
    """The new slot failed its health check (or its start)."""


class IdentityError(StateError):
    """The device identity (key pair, CSR) cannot be created or read."""
