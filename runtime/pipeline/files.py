"""Exams from files and folders: find the files, skip what is not an image, group by study."""

from __future__ import annotations

import logging
import os
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pydicom.filereader import read_file_meta_info

from ..config import ReaderConfig
from ..dicom import read_header
from ..errors import InputError

log = logging.getLogger(__name__)

#: Media Storage Directory Storage (DICOMDIR): an index, not an image.
MEDIA_STORAGE_DIRECTORY = "1.2.840.10008.1.3.10"
#: Kinds of file that sit beside images (sidecars, thumbnails, reports); one without the 'DICM' marker is skipped.
SIDECAR_SUFFIXES = frozenset({".json", ".txt", ".xml", ".csv", ".md", ".html", ".htm", ".log", ".ini", ".pdf",
                              ".png", ".jpg", ".jpeg", ".gif", ".bmp", ".tif", ".tiff", ".zip"})


class MissingPathError(InputError):
    reason = "no-such-path"


@dataclass(frozen=True, kw_only=True)
class Rejected:
    """A file that was not analyzed, and why (no patient data)."""

    path: Path
    reason: str
    message: str
    view: str | None = None  #: e.g. "RCC", when the header could be read


@dataclass(frozen=True, kw_only=True)
class FoundFiles:
    """Files to read; ``skipped``: files met while scanning a folder that are no DICOM image (with why)."""

    files: tuple[Path, ...]
    skipped: tuple[tuple[Path, str], ...] = ()


def not_an_image(path: Path) -> str | None:
    """Why a file found in a folder is no DICOM image at all (a sidecar or thumbnail without the 'DICM' marker,
    a DICOMDIR), or None: any other file goes to the reader, which names what is wrong with it."""
    try:
        with path.open("rb") as f:
            f.seek(128)
            marker = f.read(4)
    except OSError as exc:
        return f"cannot be read ({exc.strerror})"
    if marker != b"DICM":
        return f"not a DICOM file ({path.suffix.lower()} without a 'DICM' marker)" if (
            path.suffix.lower() in SIDECAR_SUFFIXES) else None
    try:
        sop_class = str(read_file_meta_info(path).get("MediaStorageSOPClassUID", ""))
    except Exception:  # a damaged meta header is the reader's to report
        return None
    return "a DICOMDIR (an index, not an image)" if sop_class == MEDIA_STORAGE_DIRECTORY else None


def list_files(paths: Sequence[Path]) -> FoundFiles:
    """Files named, and every file below the folders named, sorted; folder files that are no image are skipped.

    A file named explicitly is always kept, so the reader reports it if it is not a mammogram.
    """
    files: list[Path] = []
    skipped: list[tuple[Path, str]] = []
    for path in paths:
        if path.is_dir():
            for found in sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith(".")):
                why = not_an_image(found)
                if why is None:
                    files.append(found)
                else:
                    skipped.append((found, why))
        elif path.exists():
            files.append(path)
        else:
            raise MissingPathError(f"{os.fspath(path)!r} does not exist")
    return FoundFiles(files=tuple(files), skipped=tuple(skipped))


def group_by_study(files: Sequence[Path], config: ReaderConfig) -> tuple[dict[str, list[Path]], list[Rejected]]:
    """Readable mammograms by StudyInstanceUID; the rest as rejects with their typed reason."""
    studies: dict[str, list[Path]] = defaultdict(list)
    rejected: list[Rejected] = []
    for path in files:
        try:
            header = read_header(path, config)
        except InputError as exc:
            rejected.append(Rejected(path=path, reason=exc.reason, message=str(exc)))
            continue
        studies[header.study_instance_uid].append(path)
    return dict(studies), rejected
