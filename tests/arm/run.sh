#!/usr/bin/env bash
# The Raspberry Pi (aarch64) test run, on an x86 Debian machine, under qemu-user:
#
#     bash tests/arm/run.sh                       # Cortex-A72 (Pi 4), then Cortex-A76 (Pi 5)
#     bash tests/arm/run.sh --cpu cortex-a72 [--no-cross] [--cold] [-- PYTEST_ARGS...]
#     bash tests/arm/run.sh --parallel            # the CPUs at once, one core each
#     bash tests/arm/run.sh --setup-only         # prints ROOTFS=... and SITE=...
#
# Per CPU, pytest runs in an aarch64 python 3.11 under qemu-aarch64-static with QEMU_CPU
# and NUMBA_CPU_NAME both set to that CPU, on the modules listed in tests/arm/subset.py
# and on tests/arm/ (the assembly table and the Pi-5-cache-on-a-Pi-4 test; marked
# arm_cross_cpu, they cover both CPUs and run only in the first CPU's run, or in none
# with --no-cross).  Exit 0 when every run passes, 1 when one fails, 2 when setup fails.
#
# Setup, kept under $EDGERNN_ARM_CACHE (default .cache/arm/), each part rebuilt only when
# its content key changes (a half-built part is never used):
#   rootfs-KEY/  Debian bookworm arm64 minbase with python3 (Raspberry Pi OS 64-bit is
#                bookworm: the same Python 3.11), from debootstrap --foreign, its .debs
#                unpacked by hand (the second stage needs binfmt_misc, absent here; that
#                is also why qemu-aarch64-static is called explicitly)
#   site-KEY/    aarch64 wheels of tests/arm/requirements.txt (pip --platform --target)
#   numba/       the numba cache of the runs, one directory per CPU target (--cold empties
#                it; a fresh clone never hits it: numba keys on source paths and mtimes)
#   out/CPU/     logs and the assembly the table compiled
# Needs root or password-less sudo (apt-get install qemu-user-static debootstrap, and
# debootstrap itself) and pip reaching PyPI.
set -uo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
HERE=$REPO/tests/arm
CACHE=$(mkdir -p "${EDGERNN_ARM_CACHE:-$REPO/.cache/arm}" && cd "${EDGERNN_ARM_CACHE:-$REPO/.cache/arm}" && pwd)
SUITE=bookworm
CPUS=()
CROSS=1
COLD=0
SETUP_ONLY=0
PARALLEL=0
PYTEST_ARGS=()
while [ $# -gt 0 ]; do
    case $1 in
        --cpu) CPUS+=("$2"); shift 2 ;;
        --no-cross) CROSS=0; shift ;;
        --cold) COLD=1; shift ;;
        --parallel) PARALLEL=1; shift ;;
        --setup-only) SETUP_ONLY=1; shift ;;
        --) shift; PYTEST_ARGS=("$@"); break ;;
        -h|--help) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "tests/arm/run.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
[ ${#CPUS[@]} -gt 0 ] || CPUS=(cortex-a72 cortex-a76)

die() { echo "tests/arm/run.sh: $*" >&2; exit 2; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.0f", b - a }'; }
key() { sha256sum | cut -c1-12; }
sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo -n"

# ---------------------------------------------------------------- host packages
T0=$(now)
need=""
command -v qemu-aarch64-static >/dev/null || need="$need qemu-user-static"
command -v debootstrap >/dev/null || need="$need debootstrap"
if [ -n "$need" ]; then
    $sudo true 2>/dev/null || die "needs root or password-less sudo for: apt-get install$need"
    echo "== apt-get install$need"
    export DEBIAN_FRONTEND=noninteractive
    # shellcheck disable=SC2086
    { $sudo apt-get update -qq && $sudo apt-get install -y -qq --no-install-recommends $need \
        >/dev/null; } || die "apt-get install$need failed"
fi
QEMU=$(command -v qemu-aarch64-static)

# ---------------------------------------------------------------- rootfs
ROOTFS=$CACHE/rootfs-$(echo "$SUITE arm64 minbase python3 v1" | key)
if [ ! -e "$ROOTFS/.ready" ]; then
    echo "== debootstrap arm64 $SUITE minbase + python3 -> $ROOTFS"
    $sudo rm -rf "$CACHE"/rootfs-* || die "cannot remove old $CACHE/rootfs-*"
    tmp=$ROOTFS.part
    $sudo debootstrap --foreign --arch=arm64 --variant=minbase --include=python3 \
        "$SUITE" "$tmp" >"$CACHE/debootstrap.log" 2>&1 \
        || die "debootstrap failed, see $CACHE/debootstrap.log"
    for deb in "$tmp"/var/cache/apt/archives/*.deb; do
        dpkg-deb --fsys-tarfile "$deb" | $sudo tar -x --keep-directory-symlink -C "$tmp" \
            || die "could not unpack $deb"
    done
    [ -x "$tmp/usr/bin/python3.11" ] || die "no python3.11 in the arm64 root"
    # The guest's sys.executable: a host script that starts python under qemu again, so
    # the tests' subprocesses ([sys.executable, ...]) work without binfmt_misc.
    printf '#!/bin/sh\nexec qemu-aarch64-static -0 "$0" "$QEMU_LD_PREFIX/usr/bin/python3.11" "$@"\n' \
        | $sudo tee "$tmp/usr/bin/python3-qemu" >/dev/null && $sudo chmod 755 "$tmp/usr/bin/python3-qemu"
    $sudo rm -f "$tmp"/var/cache/apt/archives/*.deb
    $sudo touch "$tmp/.ready" && $sudo mv "$tmp" "$ROOTFS" || die "could not finish $ROOTFS"
fi

# ---------------------------------------------------------------- aarch64 wheels
PY_TAG="--platform manylinux_2_28_aarch64 --python-version 3.11 --implementation cp --abi cp311"
SITE=$CACHE/site-$( (cat "$HERE/requirements.txt"; echo "$PY_TAG") | key)
if [ ! -e "$SITE/.ready" ]; then
    echo "== aarch64 wheels ($(grep -c '==' "$HERE/requirements.txt") pins) -> $SITE"
    rm -rf "$CACHE"/site-*
    HOSTPY=$REPO/.venv/bin/python
    [ -x "$HOSTPY" ] || HOSTPY=python3
    "$HOSTPY" -m pip --version >/dev/null 2>&1 || die "no pip on the host: apt-get install python3-pip"
    # shellcheck disable=SC2086
    "$HOSTPY" -m pip install -q --disable-pip-version-check --no-warn-conflicts \
        --root-user-action=ignore --only-binary=:all: $PY_TAG --target "$SITE.part" \
        -r "$HERE/requirements.txt" >"$CACHE/pip.log" 2>&1 \
        || { grep -v 'is ignored' "$CACHE/pip.log" | tail -20; die "pip could not fetch the aarch64 wheels"; }
    touch "$SITE.part/.ready" && mv "$SITE.part" "$SITE" || die "could not finish $SITE"
fi
SETUP_S=$(since "$T0")
echo "== setup ready in ${SETUP_S} s: $(basename "$ROOTFS"), $(basename "$SITE")"
if [ "$SETUP_ONLY" = 1 ]; then printf 'ROOTFS=%s\nSITE=%s\n' "$ROOTFS" "$SITE"; exit 0; fi

# ---------------------------------------------------------------- per CPU
# The package as `pip install .` maps it, at a path that stays put: numba's cache is
# keyed by the source files' paths (and modification times).
RUN=$REPO/.cache/arm-pkg
mkdir -p "$RUN" && ln -sfn ../../runtime "$RUN/edgernn" || die "cannot link $RUN/edgernn"
NUMBA_DIR=$CACHE/numba
[ "$COLD" = 1 ] && rm -rf "$NUMBA_DIR"
mapfile -t SUBSET < <(python3 "$HERE/subset.py") || die "tests/arm/subset.py failed"
cd "$REPO" || exit 2

guest_pytest() {  # guest_pytest CPU OUTDIR [pytest args]: one CPU's run; rc, times to OUTDIR
    local cpu=$1 out=$2; shift 2
    local TIMEFORMAT='%R %U %S'
    { time env -u NUMBA_CPU_FEATURES -u NUMBA_CACHE_DIR -u PYTHONHOME \
        QEMU_CPU="$cpu" QEMU_LD_PREFIX="$ROOTFS" NUMBA_CPU_NAME="$cpu" \
        PYTHONPATH="$RUN:$SITE:$HERE" EDGERNN_CACHE_DIR="$NUMBA_DIR" EDGERNN_ARM_OUT="$out" \
        "$ROOTFS/usr/bin/python3-qemu" -m pytest -p guest_plugin -p no:cacheprovider \
        "$@" "${SUBSET[@]}" tests/arm "${PYTEST_ARGS[@]}" </dev/null >"$out/pytest.log" 2>&1
      echo $? >"$out/rc"; } 2>"$out/time"
}

summary() {  # summary CPU OUTDIR: one line
    local cpu=$1 out=$2 rc t
    rc=$(cat "$out/rc" 2>/dev/null || echo 1)
    [ "$rc" = 5 ] && rc=1                        # collected nothing: a failure
    [ "$rc" = 0 ] || FAILED=1
    read -r wall user sys <"$out/time"
    t=$(awk -v w="$wall" -v u="$user" -v s="$sys" 'BEGIN { printf "%.0f s wall, %.0f s CPU", w, u + s }')
    printf '%-11s %s in %s: %s\n' "$cpu" "$([ "$rc" = 0 ] && echo PASS || echo "FAIL (exit $rc)")" \
        "$t" "$(grep -E '^=+ .*(passed|failed|error).* =+$' "$out/pytest.log" | tail -1 | tr -d '=' | sed 's/^ *//; s/ *$//')"
}

FAILED=0
pids=()
for i in "${!CPUS[@]}"; do
    cpu=${CPUS[$i]} out=$CACHE/out/${CPUS[$i]}
    rm -rf "$out" && mkdir -p "$out" && : >"$out/pytest.log"
    select=()
    [ "$CROSS" = 1 ] && [ "$i" = 0 ] || select=(-m "not arm_cross_cpu")
    echo "== $cpu: pytest under qemu-aarch64 (QEMU_CPU=$cpu NUMBA_CPU_NAME=$cpu), log $out/pytest.log"
    if [ "$PARALLEL" = 1 ]; then
        guest_pytest "$cpu" "$out" "${select[@]}" &
        pids+=($!)
    else
        guest_pytest "$cpu" "$out" "${select[@]}" &
        tail -n +1 --pid=$! -f "$out/pytest.log" 2>/dev/null
        wait
    fi
done
if [ "$PARALLEL" = 1 ]; then
    wait "${pids[@]}"
    for cpu in "${CPUS[@]}"; do echo "== $cpu"; cat "$CACHE/out/$cpu/pytest.log"; done
fi
echo "== tests/arm/run.sh summary (setup ${SETUP_S} s, total $(since "$T0") s, logs in $CACHE/out)"
for cpu in "${CPUS[@]}"; do summary "$cpu" "$CACHE/out/$cpu"; done
exit $FAILED
