"""The console command: exit codes, one-line errors, lab commands without the lab extra."""

import subprocess
import sys

BLOCK_TORCH = """
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('torch', 'onnx'):
            raise ModuleNotFoundError(name)
sys.meta_path.insert(0, Block())
import importlib.util
real = importlib.util.find_spec
importlib.util.find_spec = lambda name, *a: None if name.split('.')[0] in ('torch', 'onnx') else real(name, *a)
from mammoedge.runtime.cli import main
sys.exit(main(sys.argv[1:]))
"""


def mammoedge(*args, env=None, blocked=False):
    cmd = [sys.executable, "-c", BLOCK_TORCH] if blocked else [sys.executable, "-m", "mammoedge.runtime.cli"]
    cmd += args
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)


def test_lab_command_without_the_lab_extra_says_which_extra_in_one_line():
    out = mammoedge("train", "detector", "--help", blocked=True)
    assert out.returncode == 2 and out.stdout == ""
    (line,) = out.stderr.splitlines()
    assert "needs the lab extra" in line and "mammoedge[lab]" in line and "torch" in line
    listing = mammoedge("--help", blocked=True)
    assert " train " not in listing.stdout and " analyze " in listing.stdout


def test_lab_command_with_the_extra_is_listed():
    listing = mammoedge("--help")
    assert listing.returncode == 0 and " train " in listing.stdout


def test_configuration_error_exits_2_in_one_line():
    import os

    out = mammoedge("status", env={**os.environ, "MAMMOEDGE__TELEMETRY__PORT": "99999"})
    assert out.returncode == 2 and "Traceback" not in out.stderr
    (line,) = out.stderr.splitlines()
    assert line == "mammoedge status: configuration error: telemetry.port = 99999 must be <= 65535"


def test_usage_error_exits_2():
    assert mammoedge("no-such-command").returncode == 2
    assert mammoedge("analyze").returncode == 2  # PATH is required
