#!/usr/bin/env bash
# In the lab (with the package index): build the wheelhouse systemd/install.sh installs from offline.
#
#   systemd/build-wheelhouse.sh OUT_DIR [PYTHON]
#
# Builds mammoedge's wheel and downloads a wheel for every runtime dependency (not the lab's extras) for the
# Python running this script (use the appliance's: Debian 12, CPython 3.11, x86-64), then writes SHA256SUMS,
# which install.sh checks. Copy OUT_DIR next to the checkout as wheelhouse/ or pass --wheelhouse OUT_DIR.
set -euo pipefail
[[ $# -ge 1 ]] || { sed -n '4p' "${BASH_SOURCE[0]}" | sed 's/^# //' >&2; exit 2; }
OUT=$1
PYTHON=${2:-python3}
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
mkdir -p "$OUT"
"$PYTHON" -m pip wheel --disable-pip-version-check --wheel-dir "$OUT" "$SRC"
(cd "$OUT" && sha256sum -- *.whl > SHA256SUMS)
echo "wheelhouse: $OUT ($(ls "$OUT"/*.whl | wc -l) wheels)"
