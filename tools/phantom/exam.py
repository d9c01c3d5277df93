"""A four-view screening exam: one pair of 3-D breasts -> DICOM files + truth.json."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Collection
from pathlib import Path

import numpy as np

from . import anatomy, cohort, dicom_writer, physics, views
from .errors import PhantomError
from .clusters import PlantedCluster, pick, plant_cluster
from .texture import DENSITY_PREVALENCE
from .truth import (SCHEMA_VERSION, BiradsCategory, CalcTruth, ClusterInView, ClusterTruth, Density, Distribution,
                    ExamTruth, Morphology, ViewTruth, write_truth)
from .vendors import VendorProfile, encode, resolve

log = logging.getLogger(__name__)
GENERATOR = "mammoedge.tools.phantom"
VIEW_ORDER = (("R", "CC"), ("L", "CC"), ("R", "MLO"), ("L", "MLO"))


@dataclasses.dataclass(frozen=True, kw_only=True)
class Geometry:
    """Render grid of a profile: (rows, cols) and spacing at the breast, for a size mode."""

    shape: tuple[int, int]
    spacing_mm: float
    factor: int  #: 1 full size, 2 small (same field of view, 1/4 of the pixels)


def geometry(profile: VendorProfile, size: str) -> Geometry:
    if size not in ("full", "small"):
        raise PhantomError(f"Size {size!r} is not allowed; allowed: full, small")
    f = 1 if size == "full" else 2
    return Geometry(shape=(profile.rows // f, profile.columns // f), spacing_mm=profile.spacing_mm * f, factor=f)


def fit(breast: anatomy.Breast, geo: Geometry) -> anatomy.Breast:
    """Shrink a breast that would not fit the detector (keeps thickness)."""
    height, width = geo.shape[0] * geo.spacing_mm, geo.shape[1] * geo.spacing_mm
    scale = min(1.0, 0.85 * width / (breast.mlo_nipple_distance_mm + 5),
                0.9 * height / (2 * breast.half_width_mm + 5), 0.8 * height / (2 * breast.mlo_half_height_mm))
    if scale >= 1.0:
        return breast
    return dataclasses.replace(breast, nipple_distance_mm=breast.nipple_distance_mm * scale,
                               half_width_mm=breast.half_width_mm * scale,
                               pectoral_top_mm=breast.pectoral_top_mm * scale,
                               pectoral_length_mm=breast.pectoral_length_mm * scale)


def _place(rng: np.random.Generator, breast: anatomy.Breast, cluster: PlantedCluster, cid: int
           ) -> tuple[np.ndarray, list[views.PlacedCalc]]:
    """Choose the cluster centre inside the breast and keep calcifications that fall inside."""
    d, r, t = breast.nipple_distance_mm, breast.half_width_mm, breast.thickness_mm
    for _ in range(100):
        center = np.array([rng.uniform(0.15, 0.8) * d, rng.uniform(-0.7, 0.7) * r, rng.uniform(-0.3, 0.3) * t])
        if cluster.distribution is Distribution.DIFFUSE:
            center = np.array([0.45 * d, 0.0, 0.0])
        if cluster.morphology is Morphology.SKIN:
            center[2] = np.sign(center[2] or 1.0) * (t / 2 - 0.8)
            if breast.contains(center[0], center[1], 0.0, margin=0.1):
                break
        elif breast.contains(*center, margin=0.2):
            break
    placed = []
    for offset, shape in zip(cluster.offsets_mm, cluster.shapes):
        p = center + offset
        if cluster.morphology is Morphology.SKIN:
            p[2] = center[2]
        if breast.contains(*p, margin=0.0) or (cluster.morphology is Morphology.SKIN
                                               and breast.contains(p[0], p[1], 0.0)):
            placed.append(views.PlacedCalc(cluster_id=cid, uvw_mm=p, shape=shape))
    return center, placed


def _acquisition(rng: np.random.Generator, profile: VendorProfile, breast: anatomy.Breast, lat: str, view: str,
                 series_uid: str, sop_uid: str, number: int) -> dicom_writer.Acquisition:
    thickness = breast.thickness_mm
    # MLO: the C-arm obliquity, + for the right breast, - for the left (this phantom's sign convention)
    angle = 0.0 if view == "CC" else (1.0 if lat == "R" else -1.0) * breast.obliquity_deg
    lo, hi = profile.kvp_range
    kvp = float(np.clip(lo + (thickness - 20) / 60 * (hi - lo), lo, hi))
    mas = float(np.clip(30 + 2.5 * thickness + rng.normal(0, 10), 20, 300))
    dose = 0.2 * mas / 10 * (kvp / 28) ** 2
    return dicom_writer.Acquisition(laterality=lat, view=view, series_uid=series_uid, sop_uid=sop_uid,
                                    instance_number=number, thickness_mm=thickness,
                                    force_n=float(rng.uniform(60, 150)), kvp=kvp, mas=mas, entrance_dose_mgy=dose,
                                    organ_dose_mgy=dose * 0.2, angle_deg=angle)


def identity(seed: int, index: int) -> dicom_writer.Identity:
    """Obviously fake identity: PHANTOM names and IDs derived from seed and index."""
    day = 1 + (seed * 31 + index) % 28
    return dicom_writer.Identity(patient_name=f"PHANTOM^S{seed}^E{index:05d}", patient_id=f"PH-{seed}-{index:05d}",
                                 accession=f"PHACC{index:05d}", study_uid=dicom_writer.new_uid("study", seed, index),
                                 study_date=f"202601{day:02d}", study_time="090000", study_id=f"{index % 100000}")


def plan_findings(rng: np.random.Generator, normal: bool) -> list[PlantedCluster]:
    """Findings of one exam: none for a normal exam, else 1-3 clusters and some isolated calcifications."""
    if normal:
        return []
    found = [plant_cluster(rng) for _ in range(int(rng.choice([1, 1, 2, 3])))]
    for _ in range(int(rng.choice([0, 1, 2]))):  # isolated benign calcifications
        morph = pick(rng, {Morphology.PUNCTATE: 2, Morphology.ROUND: 2, Morphology.VASCULAR: 1,
                           Morphology.DYSTROPHIC: 1, Morphology.RIM: 1, Morphology.SKIN: 1})
        found.append(plant_cluster(rng, morph, Distribution.SINGLE))
    return found


@dataclasses.dataclass(frozen=True, kw_only=True)
class ExamPlan:
    """Everything an exam's views are rendered from: breasts, planted calcifications, detector."""

    seed: int
    index: int
    profile: VendorProfile
    geo: Geometry
    density: Density
    breasts: dict[str, anatomy.Breast]
    placed: dict[str, list[views.PlacedCalc]]
    clusters: dict[str, tuple[ClusterTruth, ...]]
    detector: physics.Detector
    risk: str | None

    def render(self, number: int, *, cluster_ids: Collection[int] | None = None
               ) -> tuple[views.RenderedView, np.random.Generator]:
        """View ``number`` (1-4, ``VIEW_ORDER``) and its random state after rendering. ``cluster_ids``: only
        those clusters' calcifications (empty: none, the view's background), on the same anatomy and noise."""
        lat, view = VIEW_ORDER[number - 1]
        vrng = np.random.default_rng([self.seed, self.index, number])
        calcs = [c for c in self.placed[lat] if cluster_ids is None or c.cluster_id in cluster_ids]
        return views.render_view(vrng, self.breasts[lat], view, self.density, self.geo.shape, self.geo.spacing_mm,
                                 calcs, self.detector), vrng


def plan_exam(*, seed: int, index: int = 0, profile: VendorProfile | str = "hologic", size: str = "full",
              density: Density | str | None = None, normal_fraction: float = 0.3, with_cohort: bool = False
              ) -> ExamPlan:
    """The exam ``make_exam`` writes for these arguments, before any view is rendered."""
    if isinstance(profile, str):
        profile = resolve(profile)[0]
    rng = np.random.default_rng([seed, index])
    geo = geometry(profile, size)
    density = Density(density) if density is not None else pick(rng, DENSITY_PREVALENCE)
    breasts = {"L": fit(anatomy.make_breast(rng, density, np.random.default_rng([seed, index, 99])), geo)}
    breasts["R"] = fit(anatomy.make_breast(rng, density, np.random.default_rng([seed, index, 99]),
                                           like=breasts["L"]), geo)
    plan = cohort.plan(rng, density) if with_cohort else None
    findings = plan_findings(rng, normal=bool(rng.random() < normal_fraction))

    placed: dict[str, list[views.PlacedCalc]] = {"L": [], "R": []}
    cluster_truths: dict[str, list[ClusterTruth]] = {"L": [], "R": []}
    if plan is not None and plan.precursor == "faint_amorphous":
        faint = plant_cluster(rng, Morphology.AMORPHOUS, Distribution.GROUPED)
        faint = dataclasses.replace(faint, shapes=tuple(dataclasses.replace(s, excess_mu=s.excess_mu * 0.5,
                                                                            radii_mm=s.radii_mm * 0.7)
                                                        for s in faint.shapes))
        findings.append(faint)
    if plan is not None and plan.precursor == "texture_asymmetry":
        b = breasts[plan.laterality]
        breasts[plan.laterality] = dataclasses.replace(b, volume=cohort.add_asymmetry(rng, b.volume))
    for cid, cluster in enumerate(findings):
        precursor = plan is not None and plan.precursor == "faint_amorphous" and cid == len(findings) - 1
        lat = plan.laterality if precursor else str(rng.choice(["L", "R"]))
        center, calcs = _place(rng, breasts[lat], cluster, cid)
        if not calcs:
            continue
        placed[lat] += calcs
        pts = np.array([c.uvw_mm for c in calcs])
        extent = float(np.sqrt(((pts[:, None] - pts[None]) ** 2).sum(-1)).max()) if len(pts) > 1 else 0.0
        cluster_truths[lat].append(ClusterTruth(
            cluster_id=cid, morphology=cluster.morphology, distribution=cluster.distribution,
            n_calcifications=len(calcs), malignant=cluster.malignant,
            malignancy_probability=cluster.malignancy_probability,
            assessment=BiradsCategory.PROBABLY_BENIGN if precursor else cluster.assessment,
            center_mm=tuple(float(c) for c in center), extent_mm=extent, subtle_precursor=precursor))
    detector = physics.Detector(blur_mm=profile.blur_mm, quanta_per_mm2=float(rng.uniform(1.6e5, 2.6e5)))
    return ExamPlan(seed=seed, index=index, profile=profile, geo=geo, density=density, breasts=breasts,
                    placed=placed, clusters={k: tuple(v) for k, v in cluster_truths.items()}, detector=detector,
                    risk=plan.label if plan else None)


def make_exam(out_dir: str | Path, *, seed: int, index: int = 0, profile: VendorProfile | str = "hologic",
              size: str = "full",
              density: Density | str | None = None, normal_fraction: float = 0.3, with_cohort: bool = False
              ) -> ExamTruth:
    """Write a four-view exam (``RCC.dcm``, ``LCC.dcm``, ``RMLO.dcm``, ``LMLO.dcm``, ``truth.json``) to ``out_dir``."""
    plan = plan_exam(seed=seed, index=index, profile=profile, size=size, density=density,
                     normal_fraction=normal_fraction, with_cohort=with_cohort)
    profile, geo = plan.profile, plan.geo
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ident = identity(seed, index)
    series_uid = dicom_writer.new_uid("series", seed, index)
    view_truths = []
    for number, (lat, view) in enumerate(VIEW_ORDER, start=1):
        rendered, vrng = plan.render(number)
        flip = lat == "R"
        enc = encode(rendered, profile, flip)
        sop_uid = dicom_writer.new_uid("sop", seed, index, number)
        acq = _acquisition(vrng, profile, plan.breasts[lat], lat, view, series_uid, sop_uid, number)
        ds = dicom_writer.build_dataset(ident, acq, profile, enc)
        if geo.factor != 1:  # small mode: same field of view, coarser detector grid
            ds.ImagerPixelSpacing = [f"{profile.imager_spacing_mm * geo.factor:.4f}"] * 2
            if "PixelSpacing" in ds:
                ds.PixelSpacing = [f"{geo.spacing_mm:.5f}"] * 2
        name = f"{lat}{view}.dcm"
        dicom_writer.write(ds, profile, out / name)
        view_truths.append(_view_truth(name, sop_uid, lat, view, rendered, flip, geo, acq.angle_deg))
    all_clusters = [c for v in plan.clusters.values() for c in v]
    assessment = max((c.assessment for c in all_clusters), key=lambda a: a.rank, default=BiradsCategory.NEGATIVE)
    truth = ExamTruth(schema_version=SCHEMA_VERSION, generator=GENERATOR, seed=seed, exam_index=index,
                      kind="screening", vendor=profile.name, density=plan.density,
                      study_instance_uid=ident.study_uid, assessment=assessment,
                      breast_thickness_mm={k: b.thickness_mm for k, b in plan.breasts.items()},
                      clusters=plan.clusters, views=tuple(view_truths), risk=plan.risk)
    write_truth(truth, out / "truth.json")
    return truth


def _view_truth(name: str, sop_uid: str, lat: str, view: str, rendered: views.RenderedView, flip: bool,
                geo: Geometry, angle_deg: float) -> ViewTruth:
    width = geo.shape[1]

    def col(x: float) -> float:
        return width - 1 - x if flip else x

    by_cluster: dict[int, list[CalcTruth]] = {}
    for c in rendered.calcs:
        by_cluster.setdefault(c.cluster_id, []).append(CalcTruth(
            x=col(c.x), y=c.y, diameter_mm=c.shape.diameter_mm, length_mm=c.length_mm,
            morphology=c.shape.morphology, cluster_id=c.cluster_id, suspicious=c.shape.morphology.suspicious))
    in_view = []
    for cid, calcs in sorted(by_cluster.items()):
        xs, ys = np.array([c.x for c in calcs]), np.array([c.y for c in calcs])
        in_view.append(ClusterInView(cluster_id=cid, center_px=(float(xs.mean()), float(ys.mean())),
                                     bbox_px=(float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max())),
                                     calcifications=tuple(calcs)))
    return ViewTruth(file=name, sop_instance_uid=sop_uid, laterality=lat, view=view, rows=geo.shape[0],
                     columns=geo.shape[1], pixel_spacing_mm=geo.spacing_mm,
                     chest_wall_side="right" if flip else "left", breast_area_mm2=rendered.breast_area_mm2,
                     dense_area_fraction=rendered.dense_area_fraction,
                     nipple_px=(col(rendered.nipple_px[0]), rendered.nipple_px[1]), clusters=tuple(in_view),
                     positioner_primary_angle_deg=angle_deg)
