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

import numpy as np

from ..analysis import ViewAnalysis, overlay_base
from ..digest import file_sha256
from ..errors import MammoedgeError
from ..intake.durable import write_durable
from ..preprocess import NormalizedView
from ..results import from_dict, to_dict

log = logging.getLogger(__name__)
#: file keys remembered per path (a spooled file is written once, by atomic rename: same path and stat, same bytes)
KEYS_REMEMBERED = 64
#: how long a view another thread analyzes is waited for before it is analyzed here too (a hung analysis)
WAIT_S = 120.0


class ViewStore:
    """``<directory>/<key>.json``: one analyzed view per (instance bytes, pipeline fingerprint). The last
    ``keep`` views put are also kept in memory with their normalized image and saliency maps, so their
    exam's pictures need not read them again; a view pushed out of those before its exam's pictures are written
    (:meth:`release`) keeps its overlay's grey picture (``overlay_base``, a tenth of the size), the last
    ``keep_pictures`` of them."""

    def __init__(self, directory: Path, fingerprint: str, *, keep: int = 0, keep_pictures: int = 0) -> None:
        self.directory, self.fingerprint, self.keep, self.keep_pictures = directory, fingerprint, keep, keep_pictures
        self._recent: OrderedDict[str, tuple[NormalizedView, ViewAnalysis]] = OrderedDict()
        self._pictures: OrderedDict[str, np.ndarray] = OrderedDict()
        self._keys: OrderedDict[tuple[str, int, int, int, int], str] = OrderedDict()
        self._busy: dict[str, threading.Event] = {}
        self._lock = threading.Lock()

    def key(self, path: Path) -> str:
        """SHA-256 of the file's bytes and the fingerprint; hashed once per file (path, device, inode, size and
        mtime the same), as the view worker and then the exam both ask for it."""
        st = path.stat()
        identity = (str(path), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
        with self._lock:
            known = self._keys.get(identity)
        if known is not None:
            return known
        key = hashlib.sha256(f"{file_sha256(path)}:{self.fingerprint}".encode()).hexdigest()[:40]
        with self._lock:
            self._keys[identity] = key
            while len(self._keys) > KEYS_REMEMBERED:
                self._keys.popitem(last=False)
        return key

    def begin(self, key: str) -> bool:
        """Take the view ``key`` to analyze: False when another thread has it (then :meth:`wait` for it)."""
        with self._lock:
            if key in self._busy:
                return False
            self._busy[key] = threading.Event()
            return True

    def end(self, key: str) -> None:
        """The view taken with :meth:`begin` is stored, or failed: whoever waits for it goes on."""
        with self._lock:
            done = self._busy.pop(key, None)
        if done is not None:
            done.set()

    def wait(self, key: str, timeout: float = WAIT_S) -> None:
        """Until the thread analyzing ``key`` ends (at most ``timeout``)."""
        with self._lock:
            busy = self._busy.get(key)
        if busy is not None and not busy.wait(timeout):
            log.warning("view %s still being analyzed after %.0f s; analyzing it here too", key[:8], timeout)

    def exists(self, key: str) -> bool:
        return (self.directory / f"{key}.json").is_file()

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

    def picture(self, key: str) -> np.ndarray | None:
        """The overlay's grey picture of a view pushed out of the recent views before its exam's pictures."""
        with self._lock:
            return self._pictures.get(key)

    def put(self, key: str, view: ViewAnalysis, normalized: NormalizedView | None = None) -> None:
        write_durable(self.directory / f"{key}.json", json.dumps(to_dict(view)).encode())
        if self.keep and normalized is not None:
            with self._lock:
                self._recent[key] = (normalized, view)
                self._pictures.pop(key, None)
                pushed = [self._recent.popitem(last=False) for _ in range(len(self._recent) - self.keep)]
            for old, (image, _) in pushed if self.keep_pictures else ():  # outside the lock: ~0.03 CPU-s each
                base = overlay_base(image.image, image.mask)
                with self._lock:
                    self._pictures[old] = base
                    while len(self._pictures) > self.keep_pictures:
                        self._pictures.popitem(last=False)

    def release(self, key: str) -> None:
        """The view's exam has its pictures: its image and picture need not be kept any longer."""
        with self._lock:
            self._recent.pop(key, None)
            self._pictures.pop(key, None)

    def forget(self, key: str) -> None:
        (self.directory / f"{key}.json").unlink(missing_ok=True)
