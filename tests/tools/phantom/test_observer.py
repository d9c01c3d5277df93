"""The prewhitened matched-filter observer on known answers and on one phantom exam."""

from types import SimpleNamespace

import numpy as np
import pytest

from mammoedge.tools.phantom.observer import (
    TILE,
    known_location_dprime,
    observe_exam,
    searched_sensitivity,
    view_clusters,
)


def _speck_cluster(shape, centres, amplitude):
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]]
    signal = np.zeros(shape, np.float32)
    for x, y in centres:
        signal += amplitude * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / 2.0).astype(np.float32)
    return signal


def test_known_location_dprime_in_white_noise_is_signal_norm_over_sigma():
    template = np.zeros((TILE, TILE))
    template[100:103, 120:124] = 0.05
    sigma = 0.02
    nps = np.full((TILE, TILE), sigma ** 2)  # white noise: every frequency carries the pixel variance
    assert known_location_dprime(template, nps) == pytest.approx(np.sqrt((template ** 2).sum()) / sigma)


def test_view_clusters_on_white_noise_with_a_planted_cluster():
    rng = np.random.default_rng(3)
    shape = (1200, 1000)
    background = (0.02 * rng.standard_normal(shape)).astype(np.float32)
    centres = [(500 + dx, 600 + dy) for dx, dy in ((0, 0), (12, 5), (-9, 14), (6, -11), (-14, -6))]
    signal = _speck_cluster(shape, centres, 0.02)
    benign = _speck_cluster(shape, [(525, 628)], 2.0)  # a bright benign calcification 2.6 mm off its edge
    rendered = SimpleNamespace(image=background + signal + benign, inside=np.ones(shape, bool), spacing_mm=0.1,
                               calcs=[SimpleNamespace(cluster_id=4, x=float(x), y=float(y)) for x, y in centres]
                               + [SimpleNamespace(cluster_id=5, x=525.0, y=628.0)])
    signals = {4: signal}
    (row,) = view_clusters(rendered, background, signals, {4: "amorphous", 5: "punctate"})
    expected = np.sqrt((signal ** 2).sum()) / 0.02  # ||s|| / sigma: 0.02 * sqrt(5 * pi) / 0.02 = 3.96
    assert row["members"] == 5 and row["morphology"] == "amorphous"
    # the measured NPS is white within its noise; the benign neighbour does not count
    assert row["dprime"] == pytest.approx(expected, rel=0.1)
    assert row["member_dprime_median"] == pytest.approx(expected / np.sqrt(5), rel=0.15)
    assert abs(row["z_searched"] - expected) < 2.0  # one noise draw at the true position
    assert row["background_maxima"] and max(row["background_maxima"]) < 5.0  # Gaussian maxima over ~60 windows
    # a benign cluster is not a target
    assert view_clusters(rendered, background, signals, {4: "punctate", 5: "punctate"}) == []


def test_searched_sensitivity_pools_background_maxima_per_view():
    rows = [{"morphology": "amorphous", "z_searched": 9.0, "background_maxima": [5.0, 4.0]},
            {"morphology": "amorphous", "z_searched": 4.5, "background_maxima": [8.0, 3.0]},
            {"morphology": "fine_pleomorphic", "z_searched": 30.0, "background_maxima": [4.2]}]
    table = searched_sensitivity(rows, rates=(0.5, 1.0))
    # 0.5 FP/view over 3 views: the threshold is the 2nd highest maximum (5.0): one false positive (8.0) above it
    assert table["0.5"] == {"threshold_z": 5.0, "amorphous": [1, 2], "fine_pleomorphic": [1, 1]}
    assert table["1.0"] == {"threshold_z": 4.0, "amorphous": [2, 2], "fine_pleomorphic": [1, 1]}


@pytest.mark.slow
def test_one_phantom_exam_holds_its_clusters():
    rows = observe_exam(7_000_000, 1, "hologic")  # one amorphous grouped cluster of 5, seen in RCC and RMLO
    assert {(r["view"], r["morphology"], r["members"]) for r in rows} == {("RCC", "amorphous", 5),
                                                                        ("RMLO", "amorphous", 5)}
    for row in rows:
        assert row["dprime"] > 5 and row["z_searched"] > max(row["background_maxima"])
