"""The service's malloc settings: set at start, unless the operator's GLIBC_TUNABLES sets malloc itself."""

import subprocess
import sys


def run(env: dict[str, str]) -> str:
    code = "from mammoedge.runtime.service.memory import reuse_freed_image_buffers as r; print(r())"
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout


def test_malloc_is_set_on_glibc_and_left_to_glibc_tunables():
    import os

    base = {k: v for k, v in os.environ.items() if k != "GLIBC_TUNABLES"}
    assert run(base).strip() == "True"
    assert run({**base, "GLIBC_TUNABLES": "glibc.malloc.mmap_threshold=4194304"}).strip() == "False"
