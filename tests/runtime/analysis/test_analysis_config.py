import pytest

from mammoedge.runtime.config import AnalysisConfig, load_config
from mammoedge.runtime.errors import ConfigError


@pytest.mark.parametrize(
    "text, needle",
    [
        ("tile_overlap = 512", r"analysis.tile_overlap = 512 must be < tile_size \(512\)"),
        ("tile_overlap = -8", "analysis.tile_overlap = -8 must be >= 0"),
        ("peak_threshold = 1.5", "analysis.peak_threshold = 1.5 must be <= 1"),
        ("min_cluster_count = 0", "analysis.min_cluster_count = 0 must be > 0"),
        ("split_levels = [0.3, 0.2]", r"analysis.split_levels = \(0.3, 0.2\) must be strictly ascending"),
        ("split_levels = [0.2, 1.5]", r"analysis.split_levels = \(0.2, 1.5\) must be <= 1"),
    ],
)
def test_bad_analysis_options_name_value_and_rule(tmp_path, text, needle):
    path = tmp_path / "c.toml"
    path.write_text(f"[analysis]\n{text}\n")
    with pytest.raises(ConfigError, match=needle):
        load_config(path, env={})


def test_inference_and_analysis_sections_from_file_and_environment(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[inference]\nbackend = "onnxruntime"\ndevice_priority = ["GPU", "CPU"]\n'
                    '[analysis]\nlink_distance_mm = 4.0\nsplit_levels = [0.15, 0.2]\n')
    config = load_config(path, env={"MAMMOEDGE__INFERENCE__FORCE": "true", "MAMMOEDGE__INFERENCE__CACHE_DIR": "/tmp/c"})
    assert config.inference.backend == "onnxruntime" and config.inference.force is True
    assert config.inference.device_priority == ("GPU", "CPU")
    assert str(config.inference.cache_dir) == "/tmp/c"
    assert config.analysis.link_distance_mm == 4.0 and config.analysis == AnalysisConfig(link_distance_mm=4.0,
                                                                                         split_levels=(0.15, 0.2))
    with pytest.raises(ConfigError, match="'cuda' is not one of: auto, openvino, onnxruntime"):
        load_config(None, env={"MAMMOEDGE__INFERENCE__BACKEND": "cuda"})
