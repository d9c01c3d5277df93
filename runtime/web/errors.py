"""Errors of the page: accounts, logins and what a request asked for."""

from __future__ import annotations

from ..errors import ConfigError, InputError, MammoedgeError, StateError


class AccountError(MammoedgeError):
    """An account operation broke a rule (name, password length, unknown or duplicate account)."""


class LoginError(MammoedgeError):
    """Wrong account name or password (one message for both)."""


class LockedError(LoginError):
    """The account is locked after too many wrong passwords."""


class NotFoundError(InputError):
    """A study key, view or layer the page was asked for does not exist on the box."""

    reason = "not-found"


class WebConfigError(ConfigError):
    """The page cannot start as configured (e.g. plain HTTP on a non-loopback address)."""


class WebStateError(StateError):
    """The service's state cannot be read (queue database, result file)."""
