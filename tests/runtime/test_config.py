import subprocess
import sys
import tomllib

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
