"""Shared fixtures and the peers rule. Tests mirror the source folders: tests/runtime, tests/tools, tests/firmware.

A test that needs a real peer (dcmtk, dciodvfy, mosquitto, Orthanc, Chromium, systemd-analyze) skips when it is
absent on a developer's machine; with ``MAMMOEDGE_REQUIRE_PEERS=1`` (set by ``.ci/run``) every skip is a failure,
so a broken install step cannot pass CI.
"""

from __future__ import annotations

import os
from collections.abc import Generator
from typing import Any

import pytest

REQUIRE_PEERS = os.environ.get("MAMMOEDGE_REQUIRE_PEERS") == "1"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Generator[None, Any, None]:
    outcome = yield
    report = outcome.get_result()
    if REQUIRE_PEERS and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped under MAMMOEDGE_REQUIRE_PEERS=1 (a peer is missing?): {reason}"
