"""Risk lab: the simulated cohort through the runtime reader, the four-view model's contracts, export to
ONNX/INT8 run on OpenVINO, and the figures' helpers on cases with known answers."""

import dataclasses

import numpy as np
import pytest
import torch

from mammoedge.runtime.risk import INPUT_SHAPE, calibrate
from mammoedge.tools.phantom import cohort
from mammoedge.tools.phantom import exam as phantom_exam
from mammoedge.tools.risk.data import Cohort, Precursor, cohort_exam, planted_asymmetry
from mammoedge.tools.risk.evaluate import auc, ece, harrell_c, run_model, weighted_kappa, window_centres
from mammoedge.tools.risk.export import export_onnx, fit_parameters, fit_platt, quantize_int8
from mammoedge.tools.risk.model import RiskNet
from mammoedge.tools.risk.train import SWAP_SIDES
from mammoedge.tools.splits import Split
from mammoedge.tools.training import save_weights

SEED = Split.RISK_TRAIN.seed


def _texture_index() -> int:
    for index in range(60):
        plan = phantom_exam.plan_exam(seed=SEED, index=index, size="full", with_cohort=True)
        if plan.risk is not None and plan.risk.precursor == "texture_asymmetry":
            return index
    raise AssertionError("no texture-asymmetry exam among the first 60 of RISK_TRAIN")


def test_cohort_exam_matches_the_phantom_plan_and_marks_the_planted_asymmetry_on_its_side():
    index = _texture_index()
    plan = phantom_exam.plan_exam(seed=SEED, index=index, size="full", with_cohort=True)
    row = cohort_exam(SEED, index, "hologic")
    assert row["views"].shape == (4, *INPUT_SHAPE)
    assert row["precursor"] == Precursor.TEXTURE_ASYMMETRY
    assert row["event_year"] == (plan.risk.years_to_cancer or 0)
    assert row["density"] == list(type(plan.density)).index(plan.density)
    assert row["side"] == {"L": 1, "R": 2}[plan.risk.precursor_laterality]
    asym = row["asymmetry"].astype(np.float32)
    for k in range(2):  # CC, MLO: the region lies inside that side's breast
        region = asym[k] >= 0.5
        breast = row["views"][2 * k + (1 if row["side"] == 1 else 0)] > 0
        assert region.any() and (region & breast).sum() >= 0.9 * region.sum()
    assert cohort.add_asymmetry.__name__ == "add_asymmetry"  # the recorder is gone after the block


def test_planted_asymmetry_records_exactly_the_added_blob():
    rng = np.random.default_rng(3)
    volume = np.zeros((48, 64, 16), np.float32)
    with planted_asymmetry() as blobs:
        out = cohort.add_asymmetry(rng, volume)
    assert len(blobs) == 1 and np.allclose(blobs[0], out - volume) and blobs[0].max() > 1.0


def test_risk_grows_with_t_and_identical_sides_give_no_asymmetry():
    torch.manual_seed(0)
    model = RiskNet(8).eval()
    x = torch.rand(3, 4, *INPUT_SHAPE)
    with torch.no_grad():
        risk, density, asym = model(x)
        assert risk.shape == (3, 5) and density.shape == (3, 4) and asym.shape == (3, 2, 27, 21)
        assert (torch.diff(risk, dim=1) >= 0).all()
        symmetric = x.clone()
        symmetric[:, 1], symmetric[:, 3] = symmetric[:, 0], symmetric[:, 2]
        assert model(symmetric)[2].max() < 0.01 < asym.min()
        # swapping the sides leaves risk, density and the asymmetry maps unchanged (up to float error)
        swapped = model(x[:, SWAP_SIDES])
        assert torch.allclose(swapped[2], asym, atol=1e-5)


def test_export_fp32_and_int8_run_on_openvino_like_torch(tmp_path):
    torch.manual_seed(1)
    model = RiskNet(8).eval()
    save_weights(model, tmp_path / "risk.pt")
    views = np.random.default_rng(0).random((6, 4, *INPUT_SHAPE), dtype=np.float32)
    fp32 = export_onnx(tmp_path / "risk.pt", tmp_path / "r-fp32.onnx")
    int8 = quantize_int8(fp32, tmp_path / "r-int8.onnx", views[:4])
    with torch.no_grad():
        expected = [t.numpy() for t in model(torch.from_numpy(views))]
    got = run_model(fp32, views)
    for name, want in zip(("risk_logits", "density_logits", "asymmetry"), expected):
        assert np.allclose(got[name], want, atol=1e-3), name
    quantized = run_model(int8, views)
    assert np.abs(quantized["risk_logits"] - expected[0]).max() < 0.2
    assert int8.stat().st_size < fp32.stat().st_size


def test_figures_on_known_cases():
    events = np.array([1, 2, 0, 0, 3])
    by_year = np.array([5.0, 4.0, 1.0, 2.0, 3.0])[:, None] * np.ones((1, 5))
    assert harrell_c(by_year, events) == 1.0
    assert harrell_c(-by_year, events) == 0.0
    assert auc(np.array([0.9, 0.8, 0.1, 0.2]), np.array([True, True, False, False])) == 1.0
    assert ece(np.full(100, 0.3), np.r_[np.ones(30), np.zeros(70)]) == pytest.approx(0.0)
    assert ece(np.full(100, 0.5), np.r_[np.ones(30), np.zeros(70)]) == pytest.approx(0.2)
    truth = np.array([0, 1, 2, 3, 1, 2])
    assert weighted_kappa(truth, truth) == pytest.approx(1.0)
    assert weighted_kappa(truth, np.array([3, 3, 0, 0, 2, 0])) < 0
    maps = np.zeros((1, 2, 27, 21))
    maps[0, 0, 5, 7] = maps[0, 1, 0, 0] = 1
    assert window_centres(maps).tolist() == [[[64.0, 80.0], [24.0, 24.0]]]


def test_platt_fit_recovers_a_known_calibration_and_calibrated_risk_is_monotone():
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 2, 20000)
    labels = (rng.random(20000) < 1 / (1 + np.exp(-(0.5 * logits - 1.0)))).astype(float)
    a, b = fit_platt(logits, labels)
    assert a == pytest.approx(0.5, abs=0.05) and b == pytest.approx(-1.0, abs=0.05)
    risk = calibrate(np.array([[0.0, 0.1, 0.2, 0.3, 0.4]]), [2, 0.1, 1, 1, 1], [0, 0, 0, 0, 0])
    assert (np.diff(risk, axis=1) >= 0).all()


def test_fit_parameters_sets_the_asymmetry_operating_point_on_exams_without_one():
    n = 200
    rng = np.random.default_rng(2)
    precursor = np.where(np.arange(n) < 20, Precursor.TEXTURE_ASYMMETRY, Precursor.NONE)
    maps = rng.random((n, 2, 27, 21))
    maps[:20] += 1.0
    event = np.where(rng.random(n) < 0.2, rng.integers(1, 6, n), 0)
    c = Cohort(views=np.zeros((n, 4, 1, 1), np.float16), density=rng.integers(0, 4, n), event_year=event,
               precursor=precursor, side=np.zeros(n, int), asymmetry=np.zeros((n, 2, 1, 1), np.float16),
               seed=Split.RISK_CALIBRATION.seed)
    params = fit_parameters({"risk_logits": rng.normal(-2, 1, (n, 5)), "asymmetry": maps}, c)
    symmetric = maps[20:].max(axis=(2, 3)).max(axis=1)
    assert (symmetric > params["asymmetry_threshold"]).mean() == pytest.approx(0.10, abs=0.01)
    assert len(params["calibration"]["a"]) == 5 and params["asymmetry_window"] == 6 and params["asymmetry_stride"] == 8
    assert dataclasses.replace(c).seed == Split.RISK_CALIBRATION.seed


def test_the_asymmetry_map_ignores_outline_differences_and_points_at_a_local_difference_inside_both_breasts():
    torch.manual_seed(0)
    model = RiskNet(8).eval()
    rng = np.random.default_rng(5)
    texture = rng.random(INPUT_SHAPE).astype(np.float32) + 0.5
    views = np.zeros((1, 4, *INPUT_SHAPE), np.float32)
    views[0, :, 16:240, :180] = texture[16:240, :180]
    views[0, 1, 16:250, :200] = texture[16:250, :200]  # the left CC breast reaches further: outlines differ
    views[0, 3, 20:240, :180] = 0.0  # the left MLO breast is narrower at the top
    views[0, 3, 20:240, :150] = texture[20:240, :150]
    with torch.no_grad():
        maps = model(torch.from_numpy(views))[2].numpy()
    assert maps.max() < 0.01  # only the outlines differ: nothing inside both breasts
    views[0, 1, 120:140, 80:100] += 1.5  # a local difference inside both breasts
    with torch.no_grad():
        maps = model(torch.from_numpy(views))[2].numpy()
    row, col = window_centres(maps)[0, 0]
    assert abs(row - 130) <= 16 and abs(col - 90) <= 16 and maps[0, 0].max() > 0.01 > maps[0, 1].max()


def test_the_localization_term_is_lower_when_the_map_peaks_on_the_planted_region():
    from mammoedge.tools.risk.train import asymmetry_terms, region_cells

    region = np.zeros((1, 2, *INPUT_SHAPE), np.float16)
    region[0, :, 100:140, 60:100] = 1.0
    cells = region_cells(region)
    assert cells.shape == (1, 2, 27, 21) and cells[0, 0, 10, 7] and not cells[0, 0, 0, 0]
    model = RiskNet(8)
    on, off = torch.zeros(1, 2, 27, 21), torch.zeros(1, 2, 27, 21)
    on[0, :, 10, 7] = off[0, :, 0, 0] = 10.0
    texture = torch.tensor([True])
    loss_on, _ = asymmetry_terms(model, on, torch.from_numpy(cells), texture)
    loss_off, _ = asymmetry_terms(model, off, torch.from_numpy(cells), texture)
    assert float(loss_on) < 1.0 < float(loss_off)


def test_lab_and_runtime_inputs_of_the_same_exams_through_the_shipped_model():
    """``evaluate risk --consistency-exams``: the runtime path (DICOM at the phantom's small size, the reader,
    normalize, register) against the lab's render, on two RISK_TEST exams, one worker."""
    from mammoedge.runtime.config import Config
    from mammoedge.tools.risk.consistency import consistency
    from mammoedge.tools.risk.data import make_cohort

    test = make_cohort(Split.RISK_TEST, 2)
    figures = consistency(test, 2, Config().inference.models_dir, workers=1, bootstrap_samples=20)
    assert figures["exams"] == 2 and 0.0 <= figures["mean_abs_5y_risk_difference"] < 0.5
    assert all(0.0 <= figures[k] <= 1.0 for k in ("density_runtime_equals_lab", "density_runtime_correct"))
    runtime_mean, lab_mean = figures["mean_5y_risk_runtime_lab"]
    assert 0.0 < runtime_mean < 1.0 and 0.0 < lab_mean < 1.0
    assert ("c_index_runtime" in figures) == (figures["cancers_within_5_years"] > 0)
