#!/usr/bin/env bash
# Install mammoedge as a systemd service on the appliance (run as root from a checkout or an unpacked bundle).
#
#   sudo systemd/install.sh --wheelhouse DIR   # offline: every wheel from DIR (built by systemd/build-wheelhouse.sh)
#   sudo systemd/install.sh                    # from the source tree; pip then needs the package index
#   systemd/install.sh --dry-run [...]         # check prerequisites, print what would be done, change nothing
#   options: --trusted-root FILE (the update repository's root.json)  --base-site DIR (update.base_site)
#            --root DIR (install into DIR as a self-contained tree; units enabled, not started)
#
# First checks what the box must already have and names every missing piece (with the Debian package), then
# provisions slot a of the A/B layout (docs/updates.md): a venv in /opt/mammoedge/slots/a/venv installed offline
# from the wheelhouse, the wheelhouse and the shipped models beside it, slot.json, the "current" and "good" links
# and the update state file ('mammoedge update seed'), so the box is updatable at once. Then the configuration in
# /etc/mammoedge/mammoedge.toml (kept if present), the service account (systemd-sysusers), the units in
# /etc/systemd/system (services with their slot drop-ins, update service and timer, boot recovery, health check),
# and enables and starts mammoedge.target and the update timer. A box already provisioned keeps its slots (updates
# go through 'mammoedge update'). Exit codes: 0 done, 1 a prerequisite or a wheel is missing (nothing changed),
# 2 usage.
set -euo pipefail

PYTHON=${PYTHON:-python3}
MIN_PYTHON=3.11
DRY_RUN=0
WHEELHOUSE=""
TRUSTED_ROOT=""
BASE_SITE=""
ROOT=""
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

usage() { sed -n '3,8p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }
absdir() { (cd "$1" 2>/dev/null && pwd); }
while (( $# )); do
    case "$1" in
        --dry-run) DRY_RUN=1 ;;
        --wheelhouse) [[ $# -ge 2 ]] || usage; WHEELHOUSE=$(absdir "$2") || {
            echo "install.sh: wheelhouse $2 is not a directory" >&2; exit 1; }; shift ;;
        --trusted-root) [[ $# -ge 2 ]] || usage; [[ -f "$2" ]] || {
            echo "install.sh: trusted root $2 is not a file" >&2; exit 1; }
            TRUSTED_ROOT=$(cd "$(dirname "$2")" && pwd)/$(basename "$2"); shift ;;
        --base-site) [[ $# -ge 2 ]] || usage; BASE_SITE=$(absdir "$2") || {
            echo "install.sh: base site $2 is not a directory" >&2; exit 1; }; shift ;;
        --root) [[ $# -ge 2 ]] || usage; mkdir -p "$2" && ROOT=$(absdir "$2"); shift ;;
        -h|--help) usage ;;
        *) echo "install.sh: unknown argument $1" >&2; usage ;;
    esac
    shift
done
[[ -z "$WHEELHOUSE" && -d "$SRC/wheelhouse" ]] && WHEELHOUSE="$SRC/wheelhouse"
PREFIX=${MAMMOEDGE_PREFIX:-$ROOT/opt/mammoedge}
CONFIG_DIR=$ROOT/etc/mammoedge
CONFIG=$CONFIG_DIR/mammoedge.toml
STATE_DIR=$ROOT/var/lib/mammoedge
UNIT_DIR=$ROOT/etc/systemd/system
SYSUSERS_DIR=$ROOT/usr/lib/sysusers.d
SLOT=$PREFIX/slots/a
SYSTEMCTL=(systemctl); SYSUSERS=(systemd-sysusers)
[[ -n "$ROOT" ]] && { SYSTEMCTL=(systemctl "--root=$ROOT"); SYSUSERS=(systemd-sysusers "--root=$ROOT"); }
UNITS=(mammoedge-intake.service mammoedge-worker.service mammoedge.target mammoedge-update.service
       mammoedge-update.timer mammoedge-update-boot.service mammoedge-health.service mammoedge-web.service)
DROPINS=(mammoedge-intake.service.d/slot.conf mammoedge-worker.service.d/slot.conf)

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

# -- slot a: a venv from the wheelhouse, sealed by 'mammoedge update seed' ---------------------------------------
PROVISIONED=0
[[ -L "$PREFIX/good" ]] && PROVISIONED=1
if (( PROVISIONED )); then
    echo "$PREFIX is already provisioned (good -> $(readlink "$PREFIX/good")): slots kept; update with 'mammoedge update'"
else
    if [[ -n "$WHEELHOUSE" ]]; then
        echo "installing offline from the wheelhouse $WHEELHOUSE"
    else
        echo "no wheelhouse: installing from $SRC; pip needs the package index for the dependencies"
        WHEELHOUSE=$SLOT/wheelhouse.build
        run "$PYTHON" -m pip wheel --disable-pip-version-check --quiet --wheel-dir "$WHEELHOUSE" "$SRC"
    fi
    PIP_SOURCE=(--no-index --find-links "$WHEELHOUSE" mammoedge)
    [[ -n "$BASE_SITE" ]] && PIP_SOURCE=(--no-deps --ignore-installed "${PIP_SOURCE[@]}")
    run install -d -m 0755 "$PREFIX" "$PREFIX/docs" "$PREFIX/slots" "$SLOT"
    run "$PYTHON" -m venv "$SLOT/venv"
    if [[ -n "$BASE_SITE" ]]; then  # the shared read-only dependencies, after the slot's own site-packages
        if (( DRY_RUN )); then
            echo "+ echo $BASE_SITE > (slot a's site-packages)/_mammoedge_base_site.pth"
        else
            purelib=$("$SLOT/venv/bin/python" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')
            echo "$BASE_SITE" > "$purelib/_mammoedge_base_site.pth"
        fi
    elif (( ! DRY_RUN )); then
        # Resolve everything against the wheelhouse first: name what it lacks before anything is installed.
        if ! report=$("$SLOT/venv/bin/pip" install --dry-run --disable-pip-version-check "${PIP_SOURCE[@]}" 2>&1); then
            echo "install.sh: the wheelhouse cannot satisfy mammoedge's requirements:" >&2
            grep -E "No matching distribution|Could not find a version|ERROR" <<<"$report" >&2 || echo "$report" >&2
            exit 1
        fi
    fi
    run "$SLOT/venv/bin/pip" install --disable-pip-version-check --upgrade "${PIP_SOURCE[@]}"
fi
MAMMOEDGE=$PREFIX/good/venv/bin/mammoedge
(( PROVISIONED )) || MAMMOEDGE=$SLOT/venv/bin/mammoedge

# -- configuration (kept if present): update root, slot models, trusted root ------------------------------------
run install -d -m 0755 "$CONFIG_DIR"
if [[ -n "$TRUSTED_ROOT" ]]; then
    run install -m 0644 "$TRUSTED_ROOT" "$CONFIG_DIR/update-root.json"
fi
if [[ ! -e "$CONFIG" ]]; then
    settings=(MAMMOEDGE__UPDATE__ROOT="$PREFIX" MAMMOEDGE__UPDATE__TRUSTED_ROOT="$CONFIG_DIR/update-root.json"
              MAMMOEDGE__INFERENCE__MODELS_DIR="$PREFIX/current/models" MAMMOEDGE__SERVICE__STATE_DIR="$STATE_DIR")
    [[ -n "$BASE_SITE" ]] && settings+=(MAMMOEDGE__UPDATE__BASE_SITE="$BASE_SITE")
    if (( DRY_RUN )); then
        echo "+ ${settings[*]} $MAMMOEDGE config > $CONFIG"
    else
        env "${settings[@]}" "$MAMMOEDGE" config > "$CONFIG"
        chmod 0640 "$CONFIG"
    fi
fi
if (( ! PROVISIONED )); then
    run "$MAMMOEDGE" --config "$CONFIG" update seed --wheelhouse "$WHEELHOUSE"
    [[ "$WHEELHOUSE" == "$SLOT/wheelhouse.build" ]] && run rm -rf "$WHEELHOUSE"
    run ln -sfn current/venv "$PREFIX/venv"  # /opt/mammoedge/venv: whatever slot is current
fi
for doc in service.md updates.md web.md; do
    run install -m 0644 "$SRC/docs/$doc" "$PREFIX/docs/$doc"
done

# -- account and units -------------------------------------------------------------------------------------------
[[ -n "$ROOT" ]] || getent group render >/dev/null || run groupadd --system render
run install -d -m 0755 "$SYSUSERS_DIR" "$UNIT_DIR"
run install -m 0644 "$SRC/systemd/mammoedge.sysusers" "$SYSUSERS_DIR/mammoedge.conf"
run "${SYSUSERS[@]}" "$SYSUSERS_DIR/mammoedge.conf"
if [[ -n "$ROOT" ]]; then  # the account exists inside ROOT only: its numeric group
    gid=$(awk -F: '$1 == "mammoedge" { print $3 }' "$ROOT/etc/group" 2>/dev/null || true)
    run chgrp "${gid:-0}" "$CONFIG"
else
    run chgrp mammoedge "$CONFIG"
fi
install_unit() {  # install_unit NAME: the unit with its paths pointing at this install (the defaults unchanged)
    run install -d -m 0755 "$(dirname "$UNIT_DIR/$1")"
    if (( DRY_RUN )); then
        echo "+ install $SRC/systemd/$1 -> $UNIT_DIR/$1"
    else
        sed -e "s|/opt/mammoedge|$PREFIX|g" -e "s|/etc/mammoedge|$CONFIG_DIR|g" -e "s|/var/lib/mammoedge|$STATE_DIR|g" \
            "$SRC/systemd/$1" > "$UNIT_DIR/$1"
        chmod 0644 "$UNIT_DIR/$1"
    fi
}
for unit in "${UNITS[@]}" "${DROPINS[@]}"; do
    install_unit "$unit"
done
if [[ -z "$ROOT" ]]; then
    run systemd-analyze verify "$UNIT_DIR/mammoedge-intake.service" "$UNIT_DIR/mammoedge-worker.service" \
        "$UNIT_DIR/mammoedge-update.service" "$UNIT_DIR/mammoedge-update-boot.service" \
        "$UNIT_DIR/mammoedge-health.service" "$UNIT_DIR/mammoedge-web.service"
    run systemctl daemon-reload
    run systemctl enable mammoedge-update-boot.service mammoedge-health.service
    run systemctl enable --now mammoedge.target
    run systemctl enable --now mammoedge-update.timer
else
    run "${SYSTEMCTL[@]}" enable mammoedge-update-boot.service mammoedge-health.service mammoedge.target \
        mammoedge-update.timer
fi
echo "mammoedge installed; check with: $PREFIX/venv/bin/mammoedge --config $CONFIG update status"
