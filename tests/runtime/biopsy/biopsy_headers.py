"""Hand-made stereo headers (no pixels) for geometry and set tests."""

from __future__ import annotations

from pydicom.dataset import Dataset

SID = 650.0


def header(angle: float, *, fixed: bool = True, iso: float = 0.0, role: str | None = None, laterality: str = "L",
           thickness: float = 45.0, study: str = "1.2.3.4", frame: str = "1.2.3.5", pitch: float = 0.05,
           size: int = 1024) -> Dataset:
    ds = Dataset()
    ds.StudyInstanceUID = study
    ds.FrameOfReferenceUID = frame
    ds.ImageLaterality = laterality
    ds.BodyPartThickness = f"{thickness:.1f}"
    ds.PositionerPrimaryAngle = f"{angle:.1f}"
    ds.DetectorPrimaryAngle = f"{(-angle if fixed else 0.0) + 0.0:.1f}"
    ds.DistanceSourceToDetector = f"{SID:.1f}"
    ds.DistanceSourceToIsocenter = SID - iso
    ds.ImagerPixelSpacing = [f"{pitch:.4f}"] * 2
    ds.Rows = ds.Columns = size
    if role is None:
        role = "STEREO_SCOUT" if angle == 0 else "STEREO_PLUS" if angle > 0 else "STEREO_MINUS"
    ds.ImageType = ["ORIGINAL", "PRIMARY", role]
    return ds


def stereo_headers(**kwargs: object) -> list[tuple[str, Dataset]]:
    return [(name, header(angle, **kwargs)) for name, angle in  # type: ignore[arg-type]
            (("scout.dcm", 0.0), ("plus.dcm", 15.0), ("minus.dcm", -15.0))]
