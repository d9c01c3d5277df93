"""The phantom's one error type."""

from mammoedge.runtime.errors import MammoedgeError


class PhantomError(MammoedgeError, ValueError):
    """A phantom option is outside its allowed range (message names the value and the rule)."""
