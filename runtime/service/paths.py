"""Where the service keeps its files, all under ``service.state_dir``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..config import ServiceConfig


@dataclass(frozen=True, kw_only=True)
class ServicePaths:
    state_dir: Path
    spool: Path  #: <spool>/<study key>/<instance key>.dcm, byte-identical to what was received
    quarantine: Path  #: rejected instances + a JSON note with the reason
    results: Path  #: <results>/<study key>.json (the envelope); <results>/exams/: exam result, overlays, saliency
    views: Path  #: <views>/<key>.json: each analyzed view (pipeline.ViewStore)
    queue_db: Path
    secret: Path  #: the per-device HMAC secret for study keys

    @classmethod
    def of(cls, config: ServiceConfig) -> ServicePaths:
        state = Path(config.state_dir)
        return cls(state_dir=state, spool=state / "spool", quarantine=state / "quarantine",
                   results=Path(config.results_dir) if config.results_dir else state / "results",
                   views=state / "views",
                   queue_db=state / "queue.sqlite", secret=state / "device-secret")
