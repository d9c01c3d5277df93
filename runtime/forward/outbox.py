"""From written DICOM results to queued deliveries: which destination gets which objects."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ..config import ForwardConfig, ForwardObject, ServiceConfig
from .queue import SendQueue


@dataclass(frozen=True, kw_only=True)
class ForwardPaths:
    queue: Path
    objects: Path


def forward_paths(forward: ForwardConfig, service: ServiceConfig) -> ForwardPaths:
    """The queue database and the objects directory (defaults under ``service.state_dir``)."""
    return ForwardPaths(queue=forward.queue_path or service.state_dir / "forward.sqlite",
                        objects=forward.objects_dir or service.state_dir / "dicom-out")


def enqueue_results(queue: SendQueue, forward: ForwardConfig, study_key: str,
                    written: Iterable[tuple[ForwardObject, Path]]) -> int:
    """Queue each written object for every destination that takes its kind; returns rows added."""
    added = 0
    for kind, path in written:
        for destination in forward.destinations:
            if kind in destination.objects:
                added += queue.enqueue(destination.name, path, study_key=study_key, kind=kind.value)
    return added
