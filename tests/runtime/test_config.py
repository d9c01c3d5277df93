import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from mammoedge.runtime.config import Config, dump_config, load_config
from mammoedge.runtime.errors import ConfigError


def test_defaults_without_file():
    config = load_config(None, env={})
    assert config == Config()
    assert config.preprocess.model_spacing_mm == 0.1


def test_file_then_environment_override(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[preprocess]\nmodel_spacing_mm = 0.07\n[reader]\naccept_secondary_capture = true\n")
    config = load_config(path, env={"MAMMOEDGE__PREPROCESS__MODEL_SPACING_MM": "0.05"})
    assert config.preprocess.model_spacing_mm == 0.05
    assert config.reader.accept_secondary_capture is True


@pytest.mark.parametrize(
    "text, needle",
    [
        ("[reader]\nmax_pixel = 3\n", "unknown option"),
        ("[reader]\nmax_pixels = 'many'\n", "'many' is not a valid int"),
        ("[reader\n", "not valid TOML"),
        ("[reader]\naccept_secondary_capture = 'maybe'\n", "not a boolean"),
    ],
)
def test_bad_file_names_value_and_rule(tmp_path, text, needle):
    path = tmp_path / "c.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=needle):
        load_config(path, env={})


@pytest.mark.parametrize(
    "env, needle",
    [
        ({"MAMMOEDGE__TELEMETRY__PORT": "99999"}, r"telemetry.port = 99999 must be <= 65535"),
        ({"MAMMOEDGE__SERVICE__AE_TITLE": "MAMMO\\EDGE"}, r"service.ae_title = .* is not a DICOM AE title: .*backslash"),
        ({"MAMMOEDGE__SERVICE__AE_TITLE": "   "}, r"must not be blank"),
        ({"MAMMOEDGE__SERVICE__ALLOWED_CALLING_AETS": "MODALITY,THIS_IS_MORE_THAN_16"}, r"exceed 16 characters"),
        ({"MAMMOEDGE__SERVICE__ALLOWED_ADDRESSES": "10.0.0.0/8,nope"}, r"is not an IP address or CIDR network"),
        ({"MAMMOEDGE__ANALYSIS__FLAG_MIN_BIRADS": "7"}, r"'7' is not one of: 1, 2, 3, 4A, 4B, 4C, 5"),
        ({"MAMMOEDGE__INFERENCE__CPU_PRECISION": "f16"}, r"'f16' is not one of: f32, bf16"),
        ({"MAMMOEDGE__ANALYSIS__SPLIT_LEVELS": "0.3,0.2"}, r"split_levels = \(0.3, 0.2\) must be strictly ascending"),
        ({"MAMMOEDGE__ANALYSIS__TRIAGE_THRESHOLD": "1.5"}, r"analysis.triage_threshold = 1.5 must be <= 1"),
        ({"MAMMOEDGE__READER__MIN_SPACING_MM": "0"}, r"reader.min_spacing_mm = 0.0 must be > 0"),
        ({"MAMMOEDGE__TELEMETRY__SITE": "a/b"}, r"must be one MQTT topic level"),
        ({"MAMMOEDGE__TELEMETRY__CERT_FILE": "/etc/c.pem"}, r"telemetry.key_file = None must be set together"),
        ({"MAMMOEDGE__SERVICE__WORKERS": "0"}, r"service.workers = 0 must be >= 1"),
    ],
)
def test_every_section_checks_its_values(env, needle):
    with pytest.raises(ConfigError, match=needle):
        load_config(None, env=env)


def test_optional_paths_are_none_when_empty():
    config = load_config(None, env={"MAMMOEDGE__TELEMETRY__CA_FILE": ""})
    assert config.telemetry.ca_file is None and config.service.hot_folder is None
    assert load_config(None, env={"MAMMOEDGE__TELEMETRY__CA_FILE": "/x/ca.pem"}).telemetry.ca_file == Path("/x/ca.pem")


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml", env={})


def test_dump_round_trips_and_documents_every_option():
    text = dump_config(Config())
    assert load_config_from_text(text) == Config()
    for line_no, line in enumerate(text.splitlines()):
        if "=" in line and not line.startswith("#"):
            assert text.splitlines()[line_no - 1].startswith("# "), line


def load_config_from_text(text):
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as fh:
        fh.write(text)
    assert tomllib.loads(text)
    return load_config(fh.name, env={})


def test_console_command_config_runs():
    out = subprocess.run([sys.executable, "-m", "mammoedge.runtime.cli", "config"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "[preprocess]" in out.stdout
