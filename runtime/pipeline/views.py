"""Durable per-view results, so a view analyzed as it arrived is not analyzed again for its exam.

A stored view is reused only when its input and the analysis that made it are the same: the key is the
SHA-256 of the instance file and of the pipeline's fingerprint (models' hashes, backends, precisions and the
options that shape a view's result).
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections import OrderedDict
from pathlib import Path

from ..analysis import ViewAnalysis
from ..digest import file_sha256
from ..errors import MammoedgeError
from ..intake.durable import write_durable
from ..preprocess import NormalizedView
from ..results import from_dict, to_dict

log = logging.getLogger(__name__)


class ViewStore:
    """``<directory>/<key>.json``: one analyzed view per (instance bytes, pipeline fingerprint). The last
    ``keep`` views put are also kept in memory with their normalized image and saliency maps, so their
    exam's pictures need not read them again."""

    def __init__(self, directory: Path, fingerprint: str, *, keep: int = 0) -> None:
        self.directory, self.fingerprint, self.keep = directory, fingerprint, keep
        self._recent: OrderedDict[str, tuple[NormalizedView, ViewAnalysis]] = OrderedDict()
        self._lock = threading.Lock()

    def key(self, path: Path) -> str:
        return hashlib.sha256(f"{file_sha256(path)}:{self.fingerprint}".encode()).hexdigest()[:40]

    def get(self, key: str) -> ViewAnalysis | None:
        """The stored view, or None (absent, or unreadable: then it is analyzed again)."""
        path = self.directory / f"{key}.json"
        try:
            return from_dict(ViewAnalysis, json.loads(path.read_bytes()))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, MammoedgeError) as exc:
            log.warning("stored view %s unreadable (%s); analyzing it again", key[:8], type(exc).__name__)
            return None

    def recent(self, key: str) -> tuple[NormalizedView, ViewAnalysis] | None:
        """The view with its image and saliency maps, if it was put here lately."""
        with self._lock:
            return self._recent.get(key)

    def put(self, key: str, view: ViewAnalysis, normalized: NormalizedView | None = None) -> None:
        write_durable(self.directory / f"{key}.json", json.dumps(to_dict(view)).encode())
        if self.keep and normalized is not None:
            with self._lock:
                self._recent[key] = (normalized, view)
                while len(self._recent) > self.keep:
                    self._recent.popitem(last=False)

    def forget(self, key: str) -> None:
        (self.directory / f"{key}.json").unlink(missing_ok=True)
