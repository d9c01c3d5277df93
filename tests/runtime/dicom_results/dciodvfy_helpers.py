"""dicom3tools' dciodvfy on a written object: its error lines."""

from __future__ import annotations

import subprocess
from pathlib import Path


def dciodvfy_errors(path: Path) -> list[str]:
    """The lines dciodvfy starts with "Error" for the object at ``path`` (warnings are not errors)."""
    out = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True)
    return [line for line in (out.stdout + out.stderr).splitlines() if line.startswith("Error")]
