"""The asymmetry observer (tools/risk/observer.py): it finds a known blob in a known background, its readings
keep the side straight, and the counterfactual render differs from the cohort's only by the planted blob."""

import numpy as np

from mammoedge.runtime.risk import INPUT_SHAPE
from mammoedge.tools.risk import observer
from mammoedge.tools.risk.data import Cohort, Precursor, cohort_exam
from mammoedge.tools.risk.evaluate import planted_hits
from mammoedge.tools.splits import Split

SEED = Split.RISK_TRAIN.seed


def _breast() -> np.ndarray:
    rows, cols = np.mgrid[0:INPUT_SHAPE[0], 0:INPUT_SHAPE[1]]
    inside = ((rows - 128) / 128) ** 2 + (cols / 208) ** 2 < 1.0
    return np.where(inside, 1.0, 0.0).astype(np.float32)


def _blob(row: int, col: int, sigma: float = 14.0) -> np.ndarray:
    rows, cols = np.mgrid[0:INPUT_SHAPE[0], 0:INPUT_SHAPE[1]]
    return np.exp(-((rows - row) ** 2 + (cols - col) ** 2) / (2 * sigma ** 2)).astype(np.float32)


def _cohort(sides: list[int], centre: tuple[int, int], noise: float, seed: int = 0) -> Cohort:
    """Exams whose planted breast (1 left, 2 right) carries a blob at ``centre`` in both projections."""
    rng = np.random.default_rng(seed)
    breast = _breast()
    views, asym = [], []
    for side in sides:
        v = np.stack([breast * (1.0 + noise * rng.standard_normal(breast.shape).astype(np.float32))
                      for _ in range(4)])
        blob = _blob(*centre) * breast
        for k in range(2):
            v[2 * k + (1 if side == 1 else 0)] += 0.5 * blob
        views.append(v)
        asym.append(np.stack([blob / blob.max()] * 2))
    n = len(sides)
    return Cohort(views=np.array(views, np.float16), density=np.zeros(n, np.int64), event_year=np.zeros(n, np.int64),
                  precursor=np.full(n, int(Precursor.TEXTURE_ASYMMETRY)), side=np.array(sides, np.int64),
                  asymmetry=np.array(asym, np.float16), seed=SEED)


def test_every_reading_finds_a_clear_blob_on_either_side():
    exams = _cohort([1, 2, 1, 2], centre=(128, 104), noise=0.02)
    template = observer.Hotelling(np.eye(len(observer.CHANNELS))[2], observer.CHANNELS)  # the sigma-10 mean
    for grids in (observer.signed_grids(exams, None), observer.signed_grids(exams, template)):
        for how in observer.Reading:
            hits, chance = planted_hits(observer.top_windows(grids, exams, how), exams)
            assert all(hits), how
            assert 0 < np.mean(chance) < 0.2


def test_the_side_known_reading_looks_only_for_a_rise_on_the_planted_side():
    exams = _cohort([1], centre=(128, 104), noise=0.0)
    grids = observer.signed_grids(exams, None)
    wrong = Cohort(**{**exams.__dict__, "side": np.array([2])})
    assert all(planted_hits(observer.top_windows(grids, exams, observer.Reading.SIDE_KNOWN), exams)[0])
    assert not any(planted_hits(observer.top_windows(grids, wrong, observer.Reading.SIDE_KNOWN), wrong)[0])


def test_a_fitted_template_weights_the_channels_that_carry_the_blob():
    asymmetric = _cohort([1, 2] * 4, centre=(128, 104), noise=0.05)
    symmetric = _cohort([1] * 4, centre=(128, 104), noise=0.05, seed=1)
    symmetric = Cohort(**{**symmetric.__dict__, "views": np.repeat(symmetric.views[:, 1:2], 4, axis=1)})
    template = observer.fit_hotelling(asymmetric, symmetric, use=range(len(observer.MEAN_SIGMAS)))
    assert np.isclose(np.linalg.norm(template.weights), 1.0)
    assert template.weights[:len(observer.MEAN_SIGMAS)].sum() > 0  # a rise on the planted side scores high
    assert np.all(template.weights[len(observer.MEAN_SIGMAS):] == 0)


def test_the_counterfactual_exam_differs_only_in_the_planted_breast_and_mostly_on_its_region():
    index = observer.texture_indices(Split.RISK_TRAIN, 0, 60)[0]
    with_blob, clean = observer._pair((SEED, index, "hologic"))
    assert np.array_equal(with_blob["views"], cohort_exam(SEED, index, "hologic")["views"])
    affected = 1 if with_blob["side"] == 1 else 0
    for k in range(2):
        assert np.array_equal(with_blob["views"][2 * k + 1 - affected], clean[2 * k + 1 - affected])
        signal = with_blob["views"][2 * k + affected].astype(np.float32) - clean[2 * k + affected].astype(np.float32)
        region = with_blob["asymmetry"][k].astype(np.float32) >= 0.5
        assert signal[region].mean() > 5 * abs(signal[~region].mean())
