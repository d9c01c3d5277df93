"""The risk stage's left-right asymmetry windows on the source images: one rectangle per projection and side,
in each stored file's (column, row) pixels, for the companion SR and the presentation state. Each side has its
own rectangle: the model's square window on the registered grid, through that breast's own box."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from pydicom.dataset import Dataset

from ..codes import Laterality, View
from ..results.exam import ExamResult
from ..risk.input import Projection
from ..risk.stage import AsymmetryFinding, AsymmetryWindow, RiskStatus
from .errors import DicomResultsError

#: the view of each projection the asymmetry compares (left view against the mirrored right view)
PROJECTION_VIEW = {Projection.CC: View.CC, Projection.MLO: View.MLO}


@dataclass(frozen=True, kw_only=True)
class AsymmetryRegion:
    """One projection's top window on one side's source image."""

    finding: AsymmetryFinding
    laterality: Laterality
    source: Dataset
    window: AsymmetryWindow  #: the finding's window on this side's view
    outline: np.ndarray  #: closed rectangle (5, 2) in the source's (column, row) pixels, clipped to the image

    @property
    def label(self) -> str:
        """``asymmetry CC L``: no identifiers."""
        return f"asymmetry {self.finding.projection.value} {self.laterality.value}"


def window_outline(window: AsymmetryWindow, source: Dataset) -> np.ndarray:
    """The window's rectangle (its ``stored_box``, in ``source``'s pixels) as a closed polyline (first point
    repeated), clipped to the image's columns and rows."""
    x0, y0, x1, y1 = window.stored_box
    if not (x1 > x0 and y1 > y0 and window.width_mm > 0 and window.height_mm > 0):
        raise DicomResultsError(f"asymmetry window of {window.width_mm!r} x {window.height_mm!r} mm is empty; "
                                f"rule: the window has a size")
    corners = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]], dtype=np.float64)
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
        for laterality, window in ((Laterality.LEFT, finding.left_window), (Laterality.RIGHT, finding.right_window)):
            index = next((i for i, v in enumerate(result.views) if v.laterality is laterality and v.view is view),
                         None)
            if index is None:
                raise DicomResultsError(f"asymmetry of projection {finding.projection.value} has no analysed "
                                        f"{laterality.value}{view.value} view; rule: an assessed exam has all four")
            source = sources[index]
            out.append(AsymmetryRegion(finding=finding, laterality=laterality, source=source, window=window,
                                       outline=window_outline(window, source)))
    return out
