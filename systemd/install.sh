#!/usr/bin/env bash
# Install mammoedge as a systemd service on the appliance (run as root from a checkout or an unpacked bundle).
#
#   sudo systemd/install.sh --wheelhouse DIR   # offline: every wheel from DIR (built by systemd/build-wheelhouse.sh)
#   sudo systemd/install.sh                    # from the source tree; pip then needs the package index
#   systemd/install.sh --dry-run [...]         # check prerequisites, print what would be done, change nothing
#
# First checks what the box must already have and names every missing piece (with the Debian package), then puts
# a venv in /opt/mammoedge/venv, the configuration in /etc/mammoedge/mammoedge.toml (kept if present), the service
# account (systemd-sysusers), the units in /etc/systemd/system, and enables and starts mammoedge.target
# (mammoedge-intake.service + mammoedge-worker.service, both PartOf= it). Exit codes: 0 done, 1 a prerequisite
# or a wheel is missing (nothing changed), 2 usage.
set -euo pipefail

PREFIX=${MAMMOEDGE_PREFIX:-/opt/mammoedge}
CONFIG_DIR=/etc/mammoedge
UNIT_DIR=/etc/systemd/system
SYSUSERS_DIR=/usr/lib/sysusers.d
PYTHON=${PYTHON:-python3}
MIN_PYTHON=3.11
DRY_RUN=0
WHEELHOUSE=""
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

usage() { sed -n '3,6p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }
while (( $# )); do
    case "$1" in
        --dry-run) DRY_RUN=1 ;;
        --wheelhouse) [[ $# -ge 2 ]] || usage; WHEELHOUSE=$(cd "$2" 2>/dev/null && pwd) || {
            echo "install.sh: wheelhouse $2 is not a directory" >&2; exit 1; }; shift ;;
        -h|--help) usage ;;
        *) echo "install.sh: unknown argument $1" >&2; usage ;;
    esac
    shift
done
[[ -z "$WHEELHOUSE" && -d "$SRC/wheelhouse" ]] && WHEELHOUSE="$SRC/wheelhouse"

run() {
    if (( DRY_RUN )); then printf '+ %s\n' "$*"; else "$@"; fi
}

# -- prerequisites: say everything that is missing at once -------------------------------------------------------
missing=()
need_cmd() {  # need_cmd COMMAND DEBIAN-PACKAGE
    command -v "$1" >/dev/null 2>&1 || missing+=("$1 (Debian package $2)")
}
if ! command -v "$PYTHON" >/dev/null 2>&1; then
    missing+=("$PYTHON >= $MIN_PYTHON (Debian package python3)")
else
    if ! "$PYTHON" -c "import sys; sys.exit(sys.version_info < tuple(map(int, '$MIN_PYTHON'.split('.'))))" \
            2>/dev/null; then
        missing+=("$PYTHON >= $MIN_PYTHON, found $("$PYTHON" -c 'import platform; print(platform.python_version())' \
                  2>/dev/null || echo unknown) (Debian 12 ships 3.11)")
    fi
    # Debian's python3 has no venv/ensurepip without python3-venv: "python3 -m venv" then fails half-way.
    if ! "$PYTHON" -c "import venv, ensurepip" >/dev/null 2>&1; then
        missing+=("the venv module with ensurepip (Debian package python3-venv)")
    fi
fi
need_cmd systemctl systemd
need_cmd systemd-sysusers systemd
need_cmd systemd-analyze systemd
need_cmd getent libc-bin
need_cmd install coreutils
need_cmd sha256sum coreutils
if [[ -n "$WHEELHOUSE" ]]; then
    compgen -G "$WHEELHOUSE/mammoedge-*.whl" >/dev/null || missing+=("a mammoedge wheel in $WHEELHOUSE")
fi
if (( ! DRY_RUN )) && [[ $EUID -ne 0 ]]; then
    missing+=("root (run with sudo, or use --dry-run)")
fi
if (( ${#missing[@]} )); then
    echo "install.sh: cannot install, missing:" >&2
    printf '  - %s\n' "${missing[@]}" >&2
    echo "nothing was changed" >&2
    exit 1
fi
if [[ -n "$WHEELHOUSE" && -f "$WHEELHOUSE/SHA256SUMS" ]]; then
    (cd "$WHEELHOUSE" && sha256sum --quiet -c SHA256SUMS) || {
        echo "install.sh: wheelhouse checksums do not match SHA256SUMS; nothing was changed" >&2; exit 1; }
fi

# -- what pip installs: offline from the wheelhouse, or the source tree -------------------------------------------
if [[ -n "$WHEELHOUSE" ]]; then
    PIP_SOURCE=(--no-index --find-links "$WHEELHOUSE" mammoedge)
    echo "installing offline from the wheelhouse $WHEELHOUSE"
else
    PIP_SOURCE=("$SRC")
    echo "no wheelhouse: installing from $SRC; pip needs the package index for the dependencies"
fi

run install -d -m 0755 "$PREFIX" "$PREFIX/docs"
run "$PYTHON" -m venv "$PREFIX/venv"
if [[ -n "$WHEELHOUSE" ]] && (( ! DRY_RUN )); then
    # Resolve everything against the wheelhouse first: name what it lacks before anything is installed.
    if ! report=$("$PREFIX/venv/bin/pip" install --dry-run --disable-pip-version-check "${PIP_SOURCE[@]}" 2>&1); then
        echo "install.sh: the wheelhouse cannot satisfy mammoedge's requirements:" >&2
        grep -E "No matching distribution|Could not find a version|ERROR" <<<"$report" >&2 || echo "$report" >&2
        exit 1
    fi
fi
run "$PREFIX/venv/bin/pip" install --disable-pip-version-check --upgrade "${PIP_SOURCE[@]}"
run install -m 0644 "$SRC/docs/service.md" "$PREFIX/docs/service.md"
run install -d -m 0755 "$CONFIG_DIR"
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
