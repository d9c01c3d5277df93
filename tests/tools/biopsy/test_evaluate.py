"""``mammoedge evaluate biopsy``: phantoms written once, per-unit figures, seeds apart from the lab's others."""

from __future__ import annotations

import json

from mammoedge.runtime.biopsy.geometry import UnitKind
from mammoedge.runtime.cli import main
from mammoedge.tools.biopsy.seeds import SEEDS, StereoSplit
from mammoedge.tools.splits import Split, split_of

def test_seeds_lie_in_the_biopsy_splits():
    for split, lab in ((StereoSplit.TUNING, Split.BIOPSY_TUNE), (StereoSplit.HELD_OUT, Split.BIOPSY_TEST)):
        seeds = list(SEEDS[split].values())
        assert len(set(seeds)) == len(UnitKind) and all(split_of(s) is lab for s in seeds)


def test_evaluate_command_reports_both_units(tmp_path, capsys):
    args = ["evaluate", "biopsy", "--split", "tuning", "--exams", "1", "--out", str(tmp_path)]
    assert main(args) == 0
    report = json.loads((tmp_path / "report-tuning.json").read_text())
    assert set(report["units"]) == {u.value for u in UnitKind}
    for unit in report["units"].values():
        row = unit["exams"][0]
        assert {"found", "error_mm", "error_xy_mm", "error_z_mm", "one_px_dz_mm"} <= set(row)
        # one column in the +15 view moves the depth by about a pixel's worth of parallax (0.05 mm / 0.52)
        assert 0.05 < abs(row["one_px_dz_mm"]) < 0.12
        assert unit["summary"]["exams"] == 1
    assert report["all"]["exams"] == 2
    written = sorted(p.name for p in (tmp_path / "tuning" / "isocentric").iterdir())
    assert main(args) == 0  # the second run reuses the phantoms
    assert sorted(p.name for p in (tmp_path / "tuning" / "isocentric").iterdir()) == written
    assert "all" in capsys.readouterr().out
