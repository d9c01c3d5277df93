"""The peers rule of tests/conftest.py: under MAMMOEDGE_REQUIRE_PEERS=1 a skipped test fails the run."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent


def test_a_skip_fails_when_peers_are_required(tmp_path):
    shutil.copy(HERE / "conftest.py", tmp_path / "conftest.py")
    (tmp_path / "test_peer.py").write_text(
        "import pytest\n\n@pytest.mark.skipif(True, reason='storescu is not installed')\ndef test_x():\n    pass\n")
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)]
    env = {k: v for k, v in os.environ.items() if k != "MAMMOEDGE_REQUIRE_PEERS"}
    assert subprocess.run(cmd, capture_output=True, cwd=tmp_path, env=env).returncode == 0
    required = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path,
                              env={**env, "MAMMOEDGE_REQUIRE_PEERS": "1"})
    assert required.returncode == 1 and "storescu is not installed" in required.stdout
