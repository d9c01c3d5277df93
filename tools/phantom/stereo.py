"""Stereotactic pairs: a scout (0 deg) and two +/-15 deg views of one compressed breast, exact geometry.

Unit coordinate system (mm): origin at the centre of the detector's active
surface; X along increasing image columns, Y along increasing image rows,
Z up from the detector (breast support) toward the source. The detector is
fixed; the tube rotates in the X-Z plane about an axis parallel to Y through
the isocentre (0, 0, Z_iso). At angle a the focal spot is at
S = (d sin a, 0, Z_iso + d cos a) with d = SID - Z_iso; a point P projects to
the detector plane at S + (P - S) * S_z / (S_z - P_z). For Z_iso = 0 and a far
source, x(-a) - x(+a) = 2 Z tan a, so Z = dx / (2 tan 15 deg) (the
FIELD-NOTES formula holds for this fixed-detector unit; dx / (2 sin 15 deg)
holds only when the detector turns with the tube). ``triangulate`` inverts
the exact geometry.

On an isocentric unit (``unit=UnitKind.ISOCENTRIC``) the detector turns with the tube about the same
axis: at angle a its centre is at Iso + R_a(-Iso) and its column direction R_a(1, 0, 0), so the central
ray stays normal to it. The images carry Image Type value 3 (STEREO_SCOUT / STEREO_PLUS / STEREO_MINUS),
DetectorPrimaryAngle (the beam's angle to the detector normal: -a on the fixed unit, 0 on the
isocentric one) and DistanceSourceToIsocenter (SID - Z_iso).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import cv2
import numpy as np
from pydicom.uid import ExplicitVRLittleEndian

from mammoedge.runtime.biopsy.geometry import UnitKind

from . import dicom_writer, physics
from .clusters import pick, plant_cluster
from .exam import identity
from .texture import DENSITY_MODELS, DENSITY_PREVALENCE
from .truth import (SCHEMA_VERSION, CalcTruth, ClusterInView, ClusterTruth, Density, ExamTruth,
                    Morphology, StereoTarget, ViewTruth, write_truth)
from .vendors import VendorProfile, VoiKind, encode
from .views import RenderedView

ANGLES_DEG = (0.0, 15.0, -15.0)
VIEW_NAMES = {0.0: "scout", 15.0: "plus15", -15.0: "minus15"}
IMAGE_TYPE_3 = {0.0: "STEREO_SCOUT", 15.0: "STEREO_PLUS", -15.0: "STEREO_MINUS"}


@dataclasses.dataclass(frozen=True, kw_only=True)
class StereoGeometry:
    sid_mm: float = 650.0  #: source to detector at 0 deg
    isocenter_z_mm: float = 0.0  #: height of the rotation axis above the detector
    pitch_mm: float = 0.05  #: detector pixel pitch
    rows: int = 1024
    columns: int = 1024
    unit: UnitKind = UnitKind.DETECTOR_FIXED  #: the detector stays (the tube turns) or turns with the tube

    def _rotate(self, v: np.ndarray, angle_deg: float) -> np.ndarray:
        a = np.deg2rad(angle_deg)
        m = np.array([[np.cos(a), 0.0, np.sin(a)], [0.0, 1.0, 0.0], [-np.sin(a), 0.0, np.cos(a)]])
        return np.asarray(v, float) @ m.T

    def source(self, angle_deg: float) -> np.ndarray:
        a = np.deg2rad(angle_deg)
        d = self.sid_mm - self.isocenter_z_mm
        return np.array([d * np.sin(a), 0.0, self.isocenter_z_mm + d * np.cos(a)])

    def detector_frame(self, angle_deg: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(centre, column direction, row direction) of the detector at ``angle_deg``."""
        if self.unit is UnitKind.DETECTOR_FIXED:
            return np.zeros(3), np.array([1.0, 0.0, 0.0]), np.array([0.0, 1.0, 0.0])
        iso = np.array([0.0, 0.0, self.isocenter_z_mm])
        return iso + self._rotate(-iso, angle_deg), self._rotate(np.array([1.0, 0.0, 0.0]), angle_deg), \
            np.array([0.0, 1.0, 0.0])

    def project(self, xyz: np.ndarray, angle_deg: float) -> np.ndarray:
        """(N, 3) unit coordinates -> (N, 2) detector pixel (col, row)."""
        p = np.atleast_2d(xyz)
        s = self.source(angle_deg)
        if self.unit is UnitKind.DETECTOR_FIXED:
            t = s[2] / (s[2] - p[:, 2])
            xd = s[0] + t * (p[:, 0] - s[0])
            yd = s[1] + t * (p[:, 1] - s[1])
        else:
            c, eu, ev = self.detector_frame(angle_deg)
            n = np.cross(eu, ev)
            t = ((c - s) @ n) / ((p - s) @ n)
            hit = s + t[:, None] * (p - s) - c
            xd, yd = hit @ eu, hit @ ev
        return np.stack([xd / self.pitch_mm + (self.columns - 1) / 2, yd / self.pitch_mm + (self.rows - 1) / 2], 1)

    def detector_point(self, px: np.ndarray, angle_deg: float = 0.0) -> np.ndarray:
        """(N, 2) detector pixel (col, row) at ``angle_deg`` -> (N, 3) unit coordinates."""
        px = np.atleast_2d(px)
        u = (px[:, 0] - (self.columns - 1) / 2) * self.pitch_mm
        v = (px[:, 1] - (self.rows - 1) / 2) * self.pitch_mm
        c, eu, ev = self.detector_frame(angle_deg)
        return c + u[:, None] * eu + v[:, None] * ev


def triangulate(geometry: StereoGeometry, px_plus: tuple[float, float], px_minus: tuple[float, float]
                ) -> np.ndarray:
    """(X, Y, Z) mm of a point from its pixel positions in the +15 and -15 deg views (closest point of two rays)."""
    s1, s2 = geometry.source(15.0), geometry.source(-15.0)
    d1 = geometry.detector_point(np.array(px_plus), 15.0)[0] - s1
    d2 = geometry.detector_point(np.array(px_minus), -15.0)[0] - s2
    a = np.array([[d1 @ d1, -d1 @ d2], [d1 @ d2, -d2 @ d2]])
    b = np.array([(s2 - s1) @ d1, (s2 - s1) @ d2])
    t1, t2 = np.linalg.solve(a, b)
    return (s1 + t1 * d1 + s2 + t2 * d2) / 2


def _volume(rng: np.random.Generator, density: Density, shape: tuple[int, int, int], voxel: float) -> np.ndarray:
    """3-D glandular fraction (0..1): soft-thresholded 3-D power-law field (f^-3, projects to beta ~ 3)."""
    nx, ny, nz = shape
    f = [np.fft.fftfreq(n, d=voxel).astype(np.float32) for n in (nx, ny)] + \
        [np.fft.rfftfreq(nz, d=voxel).astype(np.float32)]
    k2 = f[0][:, None, None] ** 2 + f[1][None, :, None] ** 2 + f[2][None, None, :] ** 2 + np.float32(0.02 ** 2)
    amp = k2 ** np.float32(-3.0 / 4.0)
    field = np.fft.irfftn(np.fft.rfftn(rng.standard_normal(shape, dtype=np.float32)) * amp, s=shape, axes=(0, 1, 2))
    field = (field - field.mean()) / field.std()
    model = DENSITY_MODELS[density]
    return (0.5 + 0.5 * np.tanh((field - model.threshold) / 0.5)).astype(np.float32)


def _profile(geometry: StereoGeometry, thickness: float) -> VendorProfile:
    """Header conventions of the stereotactic unit (magnification at mid-breast)."""
    return VendorProfile(name="stereo", manufacturer="PHANTOM (stereotactic unit profile)",
                         model_name="Phantom Stereo", detector_type="DIRECT", imager_spacing_mm=geometry.pitch_mm,
                         rows=geometry.rows, columns=geometry.columns, bits_stored=14, photometric="MONOCHROME2",
                         presentation_intent="FOR PRESENTATION", voi=VoiKind.WINDOW, voi_function="LINEAR",
                         magnification=geometry.sid_mm / (geometry.sid_mm - thickness / 2),
                         write_pixel_spacing=False, transfer_syntax=ExplicitVRLittleEndian, blur_mm=0.04,
                         anode="TUNGSTEN", filter="RHODIUM", kvp_range=(26, 32), source_to_detector_mm=geometry.sid_mm)


def _project_volume(gland: np.ndarray, geometry: StereoGeometry, angle: float, voxel: float,
                    extent: tuple[float, float], dz: float) -> np.ndarray:
    """Sum of the volume's slices along the rays from the source at ``angle`` (voxel units), detector grid."""
    s = geometry.source(angle)
    total = np.zeros((geometry.rows, geometry.columns), np.float32)
    if geometry.unit is UnitKind.ISOCENTRIC:
        corners = np.array([[0, 0], [geometry.columns - 1, 0], [0, geometry.rows - 1],
                            [geometry.columns - 1, geometry.rows - 1]], float)
        on_detector = geometry.detector_point(corners, angle)
        for k in range(gland.shape[2]):  # detector plane -> slice plane is a homography (central projection)
            z = (k + 0.5) * dz
            t = (z - s[2]) / (on_detector[:, 2] - s[2])
            hit = s + t[:, None] * (on_detector - s)
            src = np.stack([(hit[:, 0] + extent[0] / 2) / voxel - 0.5, (hit[:, 1] + extent[1] / 2) / voxel - 0.5], 1)
            h = cv2.getPerspectiveTransform(corners.astype(np.float32), src.astype(np.float32))
            total += cv2.warpPerspective(gland[:, :, k].T.copy(), h, (geometry.columns, geometry.rows),
                                         flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REFLECT)
        return total
    for k in range(gland.shape[2]):  # slice at height z scales about the source by t = s_z / (s_z - z)
        t = s[2] / (s[2] - (k + 0.5) * dz)
        scale = geometry.pitch_mm / (t * voxel)  # detector px -> voxel index: x = s_x + (x_d - s_x) / t
        ox = (s[0] + (-(geometry.columns - 1) / 2 * geometry.pitch_mm - s[0]) / t + extent[0] / 2) / voxel - 0.5
        oy = ((-(geometry.rows - 1) / 2 * geometry.pitch_mm) / t + extent[1] / 2) / voxel - 0.5
        m = np.array([[scale, 0, ox], [0, scale, oy]], np.float32)
        total += cv2.warpAffine(gland[:, :, k].T.copy(), m, (geometry.columns, geometry.rows),
                                flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REFLECT)
    return total


def _render_calcifications(excess: np.ndarray, geometry: StereoGeometry, angle: float, calc_xyz: np.ndarray,
                           shapes: tuple) -> list[CalcTruth]:
    """Project each calcification from its 3-D position (point source, local shear for its own shape)."""
    s = geometry.source(angle)
    calcs = []
    for xyz, calc in zip(calc_xyz, shapes):
        px = geometry.project(xyz, angle)[0]
        if geometry.unit is UnitKind.DETECTOR_FIXED:
            t = s[2] / (s[2] - xyz[2])
            tan_ray = (xyz[0] - s[0]) / (s[2] - xyz[2])
            spacing = geometry.pitch_mm / t

            def project(off: np.ndarray, tan_ray: float = tan_ray) -> np.ndarray:
                return np.stack([off[:, 0] - off[:, 2] * tan_ray, off[:, 1]], 1)
        else:  # the local linear map of the central projection onto the tilted detector (px per mm)
            jac = np.stack([(geometry.project(xyz + e, angle)[0] - geometry.project(xyz - e, angle)[0]) / 2e-3
                            for e in np.eye(3) * 1e-3], 1)
            spacing = 1.0 / float(np.sqrt(abs(np.linalg.det(jac[:, :2]))))

            def project(off: np.ndarray, jac: np.ndarray = jac, spacing: float = spacing) -> np.ndarray:
                return off @ jac.T * spacing

        res = physics.render_calcification(excess, calc, (px[0], px[1]), spacing, project)
        if res is not None:
            calcs.append(CalcTruth(x=res[0], y=res[1], diameter_mm=calc.diameter_mm, length_mm=res[2],
                                   morphology=calc.morphology, cluster_id=0, suspicious=calc.morphology.suspicious))
    return calcs


def make_stereo(out_dir: str | Path, *, seed: int, index: int, size: str = "full",
                density: Density | str | None = None, geometry: StereoGeometry | None = None) -> ExamTruth:
    """Write scout, +15 and -15 deg images of one target cluster and ``truth.json``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([seed, index, 15])
    if geometry is None:
        geometry = StereoGeometry() if size == "full" else StereoGeometry(pitch_mm=0.1, rows=512, columns=512)
    density = Density(density) if density is not None else pick(rng, DENSITY_PREVALENCE)
    thickness = float(rng.uniform(30, 70))
    morph = pick(rng, {Morphology.FINE_PLEOMORPHIC: 2, Morphology.AMORPHOUS: 2, Morphology.FINE_LINEAR_BRANCHING: 1,
                       Morphology.COARSE_HETEROGENEOUS: 1})
    cluster = plant_cluster(rng, morph, "grouped")
    half = geometry.columns * geometry.pitch_mm / 2
    center = np.array([rng.uniform(-0.3, 0.3) * half, rng.uniform(-0.3, 0.3) * half,
                       rng.uniform(0.25, 0.75) * thickness])
    calc_xyz = center + cluster.offsets_mm
    calc_xyz[:, 2] = np.clip(calc_xyz[:, 2], 2.0, thickness - 2.0)
    target = calc_xyz.mean(axis=0)

    voxel = 0.4
    margin = thickness * np.tan(np.deg2rad(17)) + 2
    extent_x, extent_y = 2 * half + 2 * margin, 2 * half * geometry.rows / geometry.columns + 4
    vshape = (int(extent_x / voxel), int(extent_y / voxel), max(8, int(thickness / voxel)))
    gland = _volume(rng, density, vshape, voxel) * np.float32(DENSITY_MODELS[density].gland_scale * 1.6)
    dz = thickness / vshape[2]
    shape = (geometry.rows, geometry.columns)
    ident = identity(seed, index)
    series_uid = dicom_writer.new_uid("stereo-series", seed, index)
    profile = _profile(geometry, thickness)
    detector = physics.Detector(blur_mm=0.04, quanta_per_mm2=2.0e5)
    lat = str(rng.choice(["L", "R"]))
    views_truth, projected = [], {}
    for number, angle in enumerate(ANGLES_DEG, start=1):
        vrng = np.random.default_rng([seed, index, 15, number])
        cos_a = np.cos(np.deg2rad(angle))
        gland_path = _project_volume(gland, geometry, angle, voxel, (extent_x, extent_y), dz)
        path = thickness / cos_a
        line = (np.float32(physics.MU_FAT * path)
                + np.float32((physics.MU_GLAND - physics.MU_FAT) * dz / cos_a) * gland_path)
        excess = np.zeros(shape, np.float32)
        calcs = _render_calcifications(excess, geometry, angle, calc_xyz, cluster.shapes)
        line += excess
        counts, n0 = physics.expose(line, geometry.pitch_mm, vrng, detector, float(np.median(line)))
        image = physics.log_image(counts, n0)
        rendered = RenderedView(image=image, counts=counts, n0=n0, inside=np.ones(shape, bool),
                                spacing_mm=geometry.pitch_mm, nipple_px=(-1.0, -1.0), calcs=(),
                                breast_area_mm2=0.0, dense_area_fraction=0.0)
        enc = encode(rendered, profile, flip=False)
        sop_uid = dicom_writer.new_uid("stereo-sop", seed, index, number)
        acq = dicom_writer.Acquisition(laterality=lat, view="CC", series_uid=series_uid, sop_uid=sop_uid,
                                       instance_number=number, thickness_mm=thickness, force_n=80.0, kvp=28.0,
                                       mas=60.0, entrance_dose_mgy=1.5, organ_dose_mgy=0.3, angle_deg=angle,
                                       source_to_detector_mm=geometry.sid_mm, protocol="Stereotactic biopsy")
        ds = dicom_writer.build_dataset(ident, acq, profile, enc)
        ds.ImageType = ["ORIGINAL", "PRIMARY", IMAGE_TYPE_3[angle]]
        ds.DetectorPrimaryAngle = f"{(-angle if geometry.unit is UnitKind.DETECTOR_FIXED else 0.0) + 0.0:.1f}"
        ds.DistanceSourceToIsocenter = float(geometry.sid_mm - geometry.isocenter_z_mm)
        ds.SeriesDescription = f"STEREO {VIEW_NAMES[angle].upper()}"
        ds.StudyDescription = "PHANTOM STEREOTACTIC BIOPSY"
        name = f"{VIEW_NAMES[angle]}.dcm"
        dicom_writer.write(ds, profile, out / name)
        projected[VIEW_NAMES[angle]] = tuple(float(v) for v in geometry.project(target, angle)[0])
        xs, ys = np.array([c.x for c in calcs]), np.array([c.y for c in calcs])
        views_truth.append(ViewTruth(
            file=name, sop_instance_uid=sop_uid, laterality=lat, view="CC", rows=geometry.rows,
            columns=geometry.columns, pixel_spacing_mm=geometry.pitch_mm, chest_wall_side="none",
            breast_area_mm2=float(shape[0] * shape[1]) * geometry.pitch_mm ** 2, dense_area_fraction=float(
                (gland_path * dz / thickness > 0.5 * DENSITY_MODELS[density].gland_scale).mean()),
            nipple_px=(-1.0, -1.0), positioner_primary_angle_deg=angle,
            clusters=(ClusterInView(cluster_id=0, center_px=(float(xs.mean()), float(ys.mean())),
                                    bbox_px=(float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max())),
                                    calcifications=tuple(calcs)),) if calcs else ()))
    ctruth = ClusterTruth(cluster_id=0, morphology=cluster.morphology, distribution=cluster.distribution,
                          n_calcifications=len(calc_xyz), malignant=cluster.malignant,
                          malignancy_probability=cluster.malignancy_probability, assessment=cluster.assessment,
                          center_mm=tuple(float(v) for v in target), extent_mm=cluster.extent_mm)
    truth = ExamTruth(schema_version=SCHEMA_VERSION, generator="mammoedge.tools.phantom", seed=seed,
                      exam_index=index, kind="stereo", vendor="stereo", density=density,
                      study_instance_uid=ident.study_uid, assessment=cluster.assessment,
                      breast_thickness_mm={lat: thickness}, clusters={lat: (ctruth,)}, views=tuple(views_truth),
                      stereo_target=StereoTarget(cluster_id=0, xyz_mm=tuple(float(v) for v in target),
                                                 projected_px=projected))
    write_truth(truth, out / "truth.json")
    return truth
