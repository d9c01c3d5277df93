"""Grayscale Softcopy Presentation State (highdicom): each cluster's outline and a short label on its image."""

from __future__ import annotations

from collections.abc import Sequence

import highdicom as hd
import numpy as np
from pydicom.dataset import Dataset

from ..analysis import Cluster
from ..results.exam import ExamResult
from .asymmetry import AsymmetryRegion, asymmetry_regions
from .cad_sr import SeriesPlacement, _points

LAYER = "CAD_CALC"
#: the risk stage's asymmetry windows above its operating point, on a layer of their own
ASYMMETRY_LAYER = "ASYMMETRY"
ASYMMETRY_TEXT = "asymmetry"


def label(cluster: Cluster) -> str:
    """``#1 grouped n=10 s=0.73 BI-RADS 4B``: no identifiers, at most 64 characters (a short text)."""
    text = f"#{cluster.id} {cluster.distribution.value} n={cluster.count} s={cluster.suspicion:.2f}"
    if cluster.morphology is not None:
        text += f" BI-RADS {cluster.morphology.birads.value}" + ("?" if cluster.morphology.uncertain else "")
    return text[:64]


def build_gsps(result: ExamResult, sources: Sequence[Dataset], placement: SeriesPlacement, *,
               manufacturer: str = "mammoedge", device_serial: str = "0") -> list[Dataset]:
    """One presentation state per source series and breast (highdicom's GSPS references images of one series;
    its General Series Laterality names one breast): the clusters on layer ``CAD_CALC`` and, when the risk
    stage assessed the exam, each projection's asymmetry window above its operating point on ``ASYMMETRY``."""
    layer = hd.pr.GraphicLayer(layer_name=LAYER, order=1, description="mammoedge calcification clusters")
    asymmetry_layer = hd.pr.GraphicLayer(layer_name=ASYMMETRY_LAYER, order=2,
                                         description="mammoedge left-right asymmetry window (risk model)")
    windows: dict[str, list[AsymmetryRegion]] = {}
    for region in asymmetry_regions(result, sources, above_only=True):
        windows.setdefault(str(region.source.SOPInstanceUID), []).append(region)
    by_series: dict[tuple[str, str], list[int]] = {}
    for i, source in enumerate(sources):
        by_series.setdefault((source.SeriesInstanceUID, result.views[i].laterality.value), []).append(i)
    out: list[Dataset] = []
    for n, indices in enumerate(by_series.values()):
        annotations = []
        layers: dict[str, hd.pr.GraphicLayer] = {}
        for i in indices:
            view, source = result.views[i], sources[i]
            graphics, texts = [], []
            for cluster in view.clusters:
                centre, outline = _points(cluster)
                graphics.append(hd.pr.GraphicObject(graphic_type=hd.pr.GraphicTypeValues.POLYLINE,
                                                    graphic_data=outline.astype(np.float32), units="PIXEL",
                                                    tracking_id=f"{view.laterality.value}{view.view.value} cluster "
                                                                f"{cluster.id}",
                                                    tracking_uid=hd.UID()))
                top = float(max(1.0, outline[:, 1].min() - 8.0))
                texts.append(hd.pr.TextObject(text_value=label(cluster), units="PIXEL",
                                              anchor_point=(float(centre[0, 0]), top), anchor_point_visible=False))
            if graphics:
                annotations.append(hd.pr.GraphicAnnotation(referenced_images=[source], graphic_layer=layer,
                                                           graphic_objects=graphics, text_objects=texts))
                layers[LAYER] = layer
            regions = windows.get(str(source.SOPInstanceUID), [])
            if regions:
                annotations.append(hd.pr.GraphicAnnotation(
                    referenced_images=[source], graphic_layer=asymmetry_layer,
                    graphic_objects=[hd.pr.GraphicObject(graphic_type=hd.pr.GraphicTypeValues.POLYLINE,
                                                         graphic_data=r.outline.astype(np.float32), units="PIXEL",
                                                         tracking_id=r.label, tracking_uid=hd.UID())
                                     for r in regions],
                    text_objects=[hd.pr.TextObject(text_value=ASYMMETRY_TEXT, units="PIXEL",
                                                   anchor_point=(float(r.outline[:, 0].min() + r.outline[:, 0].max()) / 2,
                                                                 float(max(1.0, r.outline[:, 1].min() - 8.0))),
                                                   anchor_point_visible=False) for r in regions]))
                layers[ASYMMETRY_LAYER] = asymmetry_layer
        first = sources[indices[0]]
        out.append(hd.pr.GrayscaleSoftcopyPresentationState(
            referenced_images=[sources[i] for i in indices], series_instance_uid=placement.series_instance_uid,
            series_number=placement.series_number,
            sop_instance_uid=placement.sop_instance_uid if n == 0 else hd.UID(),
            instance_number=placement.instance_number + n, manufacturer=manufacturer,
            manufacturer_model_name="mammoedge", software_versions=result.software_version,
            device_serial_number=device_serial, content_label="MAMMOEDGE_CAD",
            content_description=placement.series_description[:64],
            graphic_annotations=annotations or None, graphic_layers=list(layers.values()) or None,
            institution_name=first.get("InstitutionName") or None))
        out[-1].SeriesDescription = placement.series_description
        out[-1].Laterality = result.views[indices[0]].laterality.value  # General Series, Type 2C (paired organ)
    return out
