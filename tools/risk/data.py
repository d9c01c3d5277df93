"""The SIMULATED risk cohort at the risk model's resolution, through the runtime's reader and normalizer.

Each exam is the phantom's cohort exam (``plan_exam(with_cohort=True)``: a yearly hazard rising with density
and a planted precursor, time to cancer censored at 5 years), rendered on a grid 8 times coarser than the
vendor's full-size detector (about 0.5-0.6 mm per pixel; rendering full size would take ~60x longer and the
model sees 256 x 208 anyway), encoded as the vendor's DICOM dataset, read and normalized by the runtime
(``read_mammogram``, ``normalize`` at the render spacing) and put on the model grid by the runtime stage's
own ``prepare_view``. Nothing here is patient evidence.

For a texture-asymmetry precursor the planted blob is recorded (``planted_asymmetry``) and projected into
each view of that breast, so that evaluation can check where the asymmetry map points.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from mammoedge.runtime.config import PreprocessConfig, ReaderConfig
from mammoedge.runtime.dicom import read_mammogram
from mammoedge.runtime.preprocess import normalize
from mammoedge.runtime.risk.input import INPUT_SHAPE, BreastBox, register_view, to_input_grid

from ..exams import PROFILES
from ..phantom import anatomy, cohort, dicom_writer, views
from ..phantom import exam as phantom_exam
from ..phantom.truth import Density
from ..phantom.vendors import encode
from ..splits import Split, check_seed

#: render grid = full-size detector grid / RENDER_FACTOR
RENDER_FACTOR = 16
YEARS = 5
#: the reader's spacing bound is widened for the coarse render grid (1.0-1.5 mm per pixel)
READER = ReaderConfig(max_spacing_mm=2.0)
DENSITIES = tuple(Density)
#: the splits a cohort is drawn from
COHORT_SPLITS = (Split.RISK_TRAIN, Split.RISK_CALIBRATION, Split.RISK_TEST)


class Precursor(enum.IntEnum):
    """Codes of the ``precursor`` array (the phantom cohort's planted precursor)."""

    NONE = 0
    FAINT_AMORPHOUS = 1
    TEXTURE_ASYMMETRY = 2


PRECURSOR_CODES = {None: Precursor.NONE, "faint_amorphous": Precursor.FAINT_AMORPHOUS,
                   "texture_asymmetry": Precursor.TEXTURE_ASYMMETRY}


@dataclasses.dataclass(frozen=True)
class Cohort:
    """``count`` exams as arrays: views (N, 4, 256, 208) float16 in ``VIEW_ORDER``, density index (N,) 0..3
    (a..d), event year (N,) 1..5 or 0 when censored at 5 years, precursor code (N,), precursor side (N,)
    0 none / 1 left / 2 right, and the planted asymmetry's projection (N, 2, 256, 208) float16 (CC, MLO of the
    asymmetric breast, max 1; zero for other exams)."""

    views: np.ndarray
    density: np.ndarray
    event_year: np.ndarray
    precursor: np.ndarray
    side: np.ndarray
    asymmetry: np.ndarray
    seed: int

    def __len__(self) -> int:
        return len(self.density)

    def cumulative(self) -> np.ndarray:
        """(N, 5) 1 where cancer was diagnosed by year t (t = 1..5), else 0."""
        years = np.arange(1, YEARS + 1)[None]
        return ((self.event_year[:, None] > 0) & (self.event_year[:, None] <= years)).astype(np.float32)

    def save(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, **{f.name: getattr(self, f.name) for f in dataclasses.fields(self)})
        return path

    @classmethod
    def load(cls, path: Path) -> Cohort:
        with np.load(path) as data:
            return cls(**{f.name: (int(data[f.name]) if f.name == "seed" else data[f.name])
                          for f in dataclasses.fields(cls)})

    def subset(self, keep: np.ndarray) -> Cohort:
        return dataclasses.replace(self, **{f.name: getattr(self, f.name)[keep] for f in dataclasses.fields(self)
                                            if f.name != "seed"})


@contextlib.contextmanager
def planted_asymmetry() -> Iterator[list[np.ndarray]]:
    """Record the blob ``cohort.add_asymmetry`` adds (volume after minus before) while the block runs."""
    original = cohort.add_asymmetry
    blobs: list[np.ndarray] = []

    def recording(rng: np.random.Generator, volume: np.ndarray) -> np.ndarray:
        out = original(rng, volume)
        blobs.append(out - volume)
        return out

    cohort.add_asymmetry = recording  # type: ignore[assignment]
    try:
        yield blobs
    finally:
        cohort.add_asymmetry = original  # type: ignore[assignment]


def _projected(breast: anatomy.Breast, blob: np.ndarray, view: str, shape: tuple[int, int],
               spacing_mm: float) -> np.ndarray:
    """The blob's mean along the view's rays on the render grid (ideal orientation: chest wall left)."""
    y0 = views.y_center_mm(breast, view, shape, spacing_mm)
    return anatomy.projected_bias(dataclasses.replace(breast, volume=blob), view, shape, spacing_mm, y0)


def _to_input_grid(original: np.ndarray, normalized: Any, box: BreastBox) -> np.ndarray:
    """A map on a view's stored pixel grid resampled onto the normalized view, then onto ``INPUT_SHAPE`` through
    the view's breast box (the same registration as its pixels)."""
    h, w = normalized.image.shape
    yy, xx = np.mgrid[0:h, 0:w]
    xy = normalized.transform.to_original(np.stack([xx.ravel(), yy.ravel()], axis=1)).astype(np.float32)
    mapped = cv2.remap(original.astype(np.float32), xy[:, 0].reshape(h, w), xy[:, 1].reshape(h, w),
                       cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
    return to_input_grid(mapped, box)


def cohort_exam(seed: int, index: int, profile: str) -> dict[str, Any]:
    """One cohort exam as the runtime sees it at the risk model's resolution, with its labels."""
    with planted_asymmetry() as blobs:
        plan = phantom_exam.plan_exam(seed=seed, index=index, profile=profile, size="full", with_cohort=True)
    full = plan.geo
    geo = phantom_exam.Geometry(shape=(full.shape[0] // RENDER_FACTOR, full.shape[1] // RENDER_FACTOR),
                                spacing_mm=full.spacing_mm * RENDER_FACTOR, factor=RENDER_FACTOR)
    plan = dataclasses.replace(plan, geo=geo)
    label = plan.risk
    assert label is not None
    ident = phantom_exam.identity(seed, index)
    series_uid = dicom_writer.new_uid("series", seed, index)
    preprocess = PreprocessConfig(model_spacing_mm=geo.spacing_mm)
    out_views, asym = [], np.zeros((2, *INPUT_SHAPE), np.float32)
    for number, (lat, view) in enumerate(phantom_exam.VIEW_ORDER, start=1):
        rendered, vrng = plan.render(number)
        flip = lat == "R"
        acq = phantom_exam._acquisition(vrng, plan.profile, plan.breasts[lat], lat, view, series_uid,
                                        dicom_writer.new_uid("sop", seed, index, number), number)
        ds = dicom_writer.build_dataset(ident, acq, plan.profile, encode(rendered, plan.profile, flip))
        ds.ImagerPixelSpacing = [f"{plan.profile.imager_spacing_mm * RENDER_FACTOR:.4f}"] * 2
        if "PixelSpacing" in ds:
            ds.PixelSpacing = [f"{geo.spacing_mm:.5f}"] * 2
        normalized = normalize(read_mammogram(ds, READER), preprocess)
        pixels, box = register_view(normalized.image, normalized.mask)
        out_views.append(pixels)
        if blobs and lat == label.precursor_laterality:
            ideal = _projected(plan.breasts[lat], blobs[0], view, geo.shape, geo.spacing_mm)
            stored = ideal[:, ::-1] if flip else ideal
            mapped = _to_input_grid(np.ascontiguousarray(stored), normalized, box)
            asym[0 if view == "CC" else 1] = mapped / max(float(mapped.max()), 1e-6)
    side = {None: 0, "L": 1, "R": 2}[label.precursor_laterality]
    return {"views": np.stack(out_views).astype(np.float16), "density": DENSITIES.index(plan.density),
            "event_year": label.years_to_cancer or 0, "precursor": int(PRECURSOR_CODES[label.precursor]),
            "side": side, "asymmetry": asym.astype(np.float16)}


def make_cohort(split: Split, count: int, *, start: int = 0, profiles: Sequence[str] = PROFILES,
                workers: int = 1) -> Cohort:
    """Exams ``start .. start + count - 1`` of ``split``'s first seed (vendor profiles in turn)."""
    if split not in COHORT_SPLITS:
        raise ValueError(f"split {split.name} is not a risk cohort split; allowed: "
                         f"{', '.join(s.name for s in COHORT_SPLITS)}")
    seed = check_seed(split.seed, split, what=f"{split.name} seed")
    indices = range(start, start + count)
    args = [(seed, i, profiles[i % len(profiles)]) for i in indices]
    if workers > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            rows = list(pool.map(_exam_star, args, chunksize=4))
    else:
        rows = [cohort_exam(*a) for a in args]
    return Cohort(views=np.stack([r["views"] for r in rows]),
                  density=np.array([r["density"] for r in rows], np.int64),
                  event_year=np.array([r["event_year"] for r in rows], np.int64),
                  precursor=np.array([r["precursor"] for r in rows], np.int64),
                  side=np.array([r["side"] for r in rows], np.int64),
                  asymmetry=np.stack([r["asymmetry"] for r in rows]), seed=seed)


def _exam_star(args: tuple[int, int, str]) -> dict[str, Any]:
    return cohort_exam(*args)


def cached_cohort(path: Path, split: Split, count: int, workers: int = 1) -> Cohort:
    """The cohort saved at ``path`` when it holds ``count`` exams of ``split``, else made (and saved)."""
    if path.exists():
        found = Cohort.load(path)
        if found.seed == split.seed and len(found) >= count:
            return found.subset(np.arange(count))
    made = make_cohort(split, count, workers=workers)
    made.save(path)
    return made
