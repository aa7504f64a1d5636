#!/usr/bin/env bash
# Install edgernn on a Raspberry Pi (64-bit Raspberry Pi OS / Debian) as a boot service
# running `edgernn listen` (live keyword spotting on the default microphone).
#
#     sudo bash demos/deploy/install_pi.sh [--device NAME] [--model PATH|NAME]
#                                          [--threshold X] [--hook 'COMMAND'] [--no-start]
#
# What it does (idempotent; run it again to change the options):
#   1. apt: python3-venv, libportaudio2 (PortAudio for sounddevice), alsa-utils, gcc and
#      python3-dev (edgernn.cstep: the C step entry, ~0.8 us less per frame);
#   2. a system user `edgernn` in the `audio` group;
#   3. a venv in $PREFIX/venv (default /opt/edgernn) with this checkout and its [audio]
#      extra (numpy, numba, sounddevice);
#   4. `edgernn warmup` as that user into /var/cache/edgernn: every kernel is compiled
#      once here (minutes on a Pi), not at each boot;
#   5. /etc/default/edgernn-listen (LISTEN_ARGS, EDGERNN_HOOK), the hook filter in
#      $PREFIX/bin and the unit /etc/systemd/system/edgernn-listen.service; enables it.
# Events: `journalctl -u edgernn-listen -f` (one JSON line per detection); --hook runs
# a command per detection (the JSON line on stdin, EDGERNN_LABEL/TIME/SCORE set).
set -euo pipefail
cd "$(dirname "$0")/../.."
REPO=$PWD
PREFIX=${PREFIX:-/opt/edgernn}
SERVICE_USER=${SERVICE_USER:-edgernn}
ARGS=()
HOOK=""
START=1
while [ $# -gt 0 ]; do
    case $1 in
        --device) ARGS+=(--device "$2"); shift 2 ;;
        --threshold) ARGS+=(--threshold "$2"); shift 2 ;;
        --model) MODEL=$2; shift 2 ;;
        --hook) HOOK=$2; shift 2 ;;
        --no-start) START=0; shift ;;
        -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
        *) echo "install_pi.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done
[ "$(id -u)" = 0 ] || { echo "install_pi.sh: run as root (sudo bash $0 ...)" >&2; exit 2; }
case $(uname -m) in
    aarch64|x86_64) ;;
    *) echo "install_pi.sh: $(uname -m) is not supported: numba has no 32-bit ARM wheels;" \
            "install the 64-bit Raspberry Pi OS" >&2; exit 2 ;;
esac

echo "== apt packages"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends python3-venv libportaudio2 alsa-utils gcc \
    python3-dev >/dev/null

echo "== user $SERVICE_USER (group audio)"
id -u "$SERVICE_USER" >/dev/null 2>&1 ||
    useradd --system --no-create-home --shell /usr/sbin/nologin "$SERVICE_USER"
usermod -a -G audio "$SERVICE_USER"

echo "== venv $PREFIX/venv"
mkdir -p "$PREFIX/bin" "$PREFIX/models" /var/cache/edgernn
[ -x "$PREFIX/venv/bin/python" ] || python3 -m venv "$PREFIX/venv"
"$PREFIX/venv/bin/python" -m pip install -q --upgrade pip
"$PREFIX/venv/bin/python" -m pip install -q "$REPO[audio]"
if [ -n "${MODEL:-}" ]; then
    if [ -f "$MODEL" ]; then
        install -m 0644 "$MODEL" "$PREFIX/models/" && MODEL="$PREFIX/models/$(basename "$MODEL")"
    fi
    ARGS=("$MODEL" "${ARGS[@]}")
fi

echo "== edgernn warmup (compiles every kernel once; minutes on a Pi)"
chown -R "$SERVICE_USER:audio" /var/cache/edgernn
runuser -u "$SERVICE_USER" -- env EDGERNN_CACHE_DIR=/var/cache/edgernn \
    "$PREFIX/venv/bin/edgernn" warmup ${MODEL:+"$MODEL"}

echo "== service edgernn-listen"
install -m 0755 demos/deploy/edgernn-hook "$PREFIX/bin/edgernn-hook"
{
    echo "# edgernn listen options and the detection hook (see demos/deploy/README.md)"
    printf 'LISTEN_ARGS=%s\n' "${ARGS[*]:-}"
    printf "EDGERNN_HOOK='%s'\n" "${HOOK//\'/\'\\\'\'}"
} > /etc/default/edgernn-listen
sed -e "s|@PREFIX@|$PREFIX|g" -e "s|@USER@|$SERVICE_USER|g" \
    demos/deploy/edgernn-listen.service > /etc/systemd/system/edgernn-listen.service
systemctl daemon-reload
systemctl enable edgernn-listen.service
if [ "$START" = 1 ]; then
    systemctl restart edgernn-listen.service
    echo "running: journalctl -u edgernn-listen -f   shows the detections"
else
    echo "installed; starts at the next boot (or: systemctl start edgernn-listen)"
fi
