"""The phantom's one error type."""

from mammoedge.runtime.errors import MammoedgeError


class PhantomError(MammoedgeError, ValueError):
    """A phantom option is outside its allowed range (message names the value and the rule)."""


class TruthError(MammoedgeError, ValueError):
    """A truth record does not match the truth schema (the message names the field and the rule, not its value)."""
