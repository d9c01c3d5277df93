"""Keep patient data out of pynetdicom's and pydicom's own log lines and warnings.

pynetdicom 3.0.4 logs ``Non-conformant 'Affected SOP Instance UID' value '...'`` at WARNING for a UID
with a bad character (``pynetdicom.utils.set_uid``), and ``Invalid '...' value '...'`` at ERROR; pydicom's
``warn_and_log`` logs and warns ``Invalid value for VR UI: '...'``; the DUL logs tracebacks whose texts
quote values. The filter below rewrites every record of those loggers: each quoted value becomes its
length, the arguments are dropped, and a traceback is replaced by its exception type.
"""

from __future__ import annotations

import logging
import re
import warnings

#: Loggers (and every logger below them) whose records are redacted.
NAMESPACES = ("pynetdicom", "pydicom")
QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")


def redact(text: str) -> str:
    """``text`` with every single- or double-quoted value replaced by its length."""
    return QUOTED.sub(lambda m: f"<{len(m.group(0)) - 2} characters>", text)


class RedactValues(logging.Filter):
    """Rewrite a record so that no quoted value, argument or traceback text survives (never drops it)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:
            message = str(record.msg)
        if record.exc_info and record.exc_info[0] is not None:
            message += f" ({record.exc_info[0].__name__})"
        record.msg, record.args = redact(message), None
        record.exc_info, record.exc_text, record.stack_info = None, None, None
        return True


_FILTER = RedactValues()


def quiet_third_party_logs() -> int:
    """Install the filter on every existing pynetdicom/pydicom logger (idempotent); return how many.

    A logging filter only sees records logged on its own logger, so each module's logger gets it
    (import the libraries first). Python warnings from pydicom (which repeat its log text) are ignored.
    """
    count = 0
    names = [n for n in list(logging.root.manager.loggerDict) if n.split(".")[0] in NAMESPACES]
    for name in [*NAMESPACES, *names]:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
        count += 1
    warnings.filterwarnings("ignore", category=UserWarning, module=r"pydicom(\.|$)")
    return count
