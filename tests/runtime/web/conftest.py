"""Fixtures of the page's tests; the helpers live in ``web_helpers``."""

from web_helpers import biopsy_key, box_state, browser, page  # noqa: F401  (fixtures)
