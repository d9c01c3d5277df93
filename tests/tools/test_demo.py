import json
import subprocess
import sys


def test_demo_makes_a_suspicious_exam_and_analyzes_it(tmp_path):
    out = subprocess.run([sys.executable, "-m", "mammoedge.runtime.cli", "demo", "--out", str(tmp_path),
                          "--size", "small"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    for view in ("RCC:", "LCC:", "RMLO:", "LMLO:"):
        assert view in out.stdout
    assert "REJECTED" not in out.stdout
    assert "result: " in out.stdout and len(list((tmp_path / "results").glob("*.json"))) == 1
    truth = json.loads((tmp_path / "exam" / "truth.json").read_text())
    suspicious = [c for cs in truth["clusters"].values() for c in cs if c["assessment"] in ("4A", "4B", "4C", "5")]
    assert suspicious, "the demo exam must hold a suspicious cluster"
    result = json.loads(next((tmp_path / "results").glob("*.json")).read_text())
    assert result["triage"]["flagged"], "the shipped models flag the demo exam (README says so)"
    clusters = [c for v in result["views"] for c in v["clusters"]]
    assert all(c["morphology"] is not None for c in clusters)
    saliency = [c["morphology"]["saliency"] for c in clusters]
    assert saliency and all((tmp_path / "results" / name).is_file() for name in saliency)
    assert "BI-RADS 4B" in out.stdout
