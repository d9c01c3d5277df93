#!/usr/bin/env bash
# Install mammoedge as a systemd service on the appliance (run as root from a source checkout).
#
#   sudo systemd/install.sh            # install and start
#   systemd/install.sh --dry-run       # print what would be done, change nothing
#
# Puts a venv in /opt/mammoedge/venv, the configuration in /etc/mammoedge/mammoedge.toml (kept if
# present), the service account (systemd-sysusers), the units in /etc/systemd/system, then enables
# and starts mammoedge.target (mammoedge-intake.service + mammoedge-worker.service).
set -euo pipefail

PREFIX=/opt/mammoedge
CONFIG_DIR=/etc/mammoedge
UNIT_DIR=/etc/systemd/system
SYSUSERS_DIR=/usr/lib/sysusers.d
PYTHON=${PYTHON:-python3}
DRY_RUN=0
[[ "${1:-}" == "--dry-run" ]] && DRY_RUN=1
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

run() {
    if (( DRY_RUN )); then printf '+ %s\n' "$*"; else "$@"; fi
}

if (( ! DRY_RUN )) && [[ $EUID -ne 0 ]]; then
    echo "install.sh: run as root (or with --dry-run)" >&2
    exit 1
fi

run install -d -m 0755 "$PREFIX" "$PREFIX/docs" "$CONFIG_DIR"
run "$PYTHON" -m venv "$PREFIX/venv"
run "$PREFIX/venv/bin/pip" install --upgrade "$SRC"
run install -m 0644 "$SRC/docs/service.md" "$PREFIX/docs/service.md"
if [[ ! -e "$CONFIG_DIR/mammoedge.toml" ]]; then
    if (( DRY_RUN )); then
        echo "+ $PREFIX/venv/bin/mammoedge config > $CONFIG_DIR/mammoedge.toml"
    else
        "$PREFIX/venv/bin/mammoedge" config > "$CONFIG_DIR/mammoedge.toml"
        chmod 0640 "$CONFIG_DIR/mammoedge.toml"
    fi
fi
getent group render >/dev/null || run groupadd --system render
run install -m 0644 "$SRC/systemd/mammoedge.sysusers" "$SYSUSERS_DIR/mammoedge.conf"
run systemd-sysusers "$SYSUSERS_DIR/mammoedge.conf"
run chgrp mammoedge "$CONFIG_DIR/mammoedge.toml"
for unit in mammoedge-intake.service mammoedge-worker.service mammoedge.target; do
    run install -m 0644 "$SRC/systemd/$unit" "$UNIT_DIR/$unit"
done
run systemd-analyze verify "$UNIT_DIR/mammoedge-intake.service" "$UNIT_DIR/mammoedge-worker.service"
run systemctl daemon-reload
run systemctl enable --now mammoedge.target
echo "mammoedge installed; check with: $PREFIX/venv/bin/mammoedge --config $CONFIG_DIR/mammoedge.toml status"
