"""The risk stage's left-right asymmetry windows on the source images: one square per projection and side,
in each stored file's (column, row) pixels, for the companion SR and the presentation state."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from pydicom.dataset import Dataset

from ..codes import Laterality, View
from ..results.exam import ExamResult
from ..risk.input import Projection
from ..risk.stage import AsymmetryFinding, RiskStatus
from .cad_sr import spacing_of
from .errors import DicomResultsError

#: the view of each projection the asymmetry compares (left view against the mirrored right view)
PROJECTION_VIEW = {Projection.CC: View.CC, Projection.MLO: View.MLO}


@dataclass(frozen=True, kw_only=True)
class AsymmetryRegion:
    """One projection's top window on one side's source image."""

    finding: AsymmetryFinding
    laterality: Laterality
    source: Dataset
    outline: np.ndarray  #: closed square (5, 2) in the source's (column, row) pixels, clipped to the image

    @property
    def label(self) -> str:
        """``asymmetry CC L``: no identifiers."""
        return f"asymmetry {self.finding.projection.value} {self.laterality.value}"


def window_outline(centre_xy: tuple[float, float], window_mm: float, source: Dataset) -> np.ndarray:
    """A square of side ``window_mm`` centred on ``centre_xy`` in ``source``'s pixels (its pixel spacing),
    closed (first point repeated) and clipped to the image's columns and rows."""
    if not window_mm > 0:
        raise DicomResultsError(f"asymmetry window_mm {window_mm!r} is not positive; rule: the window has a size")
    row_mm, column_mm = spacing_of(source)
    half_x, half_y = window_mm / column_mm / 2.0, window_mm / row_mm / 2.0
    x, y = centre_xy
    corners = np.array([[x - half_x, y - half_y], [x + half_x, y - half_y], [x + half_x, y + half_y],
                        [x - half_x, y + half_y], [x - half_x, y - half_y]], dtype=np.float64)
    columns, rows = int(source.Columns), int(source.Rows)
    corners[:, 0] = corners[:, 0].clip(0.0, columns - 1.0)
    corners[:, 1] = corners[:, 1].clip(0.0, rows - 1.0)
    return corners


def asymmetry_regions(result: ExamResult, sources: Sequence[Dataset], *, above_only: bool = False
                      ) -> list[AsymmetryRegion]:
    """Each assessed projection's window on its left and its right source image (none unless the risk stage
    assessed the exam); ``above_only``: only projections whose score is above the operating point."""
    risk = result.risk
    if risk is None or risk.status is not RiskStatus.ASSESSED:
        return []
    out: list[AsymmetryRegion] = []
    for finding in risk.asymmetry:
        if above_only and not finding.above_operating_point:
            continue
        view = PROJECTION_VIEW[finding.projection]
        for laterality, centre in ((Laterality.LEFT, finding.left_xy), (Laterality.RIGHT, finding.right_xy)):
            index = next((i for i, v in enumerate(result.views) if v.laterality is laterality and v.view is view),
                         None)
            if index is None:
                raise DicomResultsError(f"asymmetry of projection {finding.projection.value} has no analysed "
                                        f"{laterality.value}{view.value} view; rule: an assessed exam has all four")
            source = sources[index]
            out.append(AsymmetryRegion(finding=finding, laterality=laterality, source=source,
                                       outline=window_outline(centre, finding.window_mm, source)))
    return out
