#!/usr/bin/env bash
# Does edgernn run correctly on 64-bit Raspberry Pi OS?  Checked on an x86 machine
# under qemu-user, emulating a Cortex-A72 (Pi 4) and a Cortex-A76 (Pi 5):
#
#     bash demos/deploy/arm_check.sh            # ~1 min setup (once), ~3 min per CPU
#
# The standing CI check is tests/arm/run.sh (the runtime's tests under emulation);
# this deeper check, by hand, compares with x86 and runs the demo.  Needs Debian/Ubuntu
# with root (or password-less sudo) for apt, and pip reaching PyPI.  The arm64 root and
# the aarch64 wheels are tests/arm/run.sh's (`--setup-only`, cached under
# $EDGERNN_ARM_CACHE, default .cache/arm/); the native side gets the same numpy, numba
# and llvmlite versions (tests/arm/requirements.txt).  Its own files go to
# $EDGERNN_ARM_DIR (default /tmp/edgernn-arm).
# Per CPU it starts from an empty numba cache (ARM_KEEP_CACHE=1 reuses it) and checks:
#   import    python, numpy, numba import on aarch64; which CPU numba compiles for
#   compile   `edgernn warmup` (every kernel) compiles without error; time per kernel
#   cached    a second `edgernn warmup` loads from the cache (no recompiling)
#   demo      `edgernn demo --limit 8`: same predictions and accuracy as native
#   parity    arm_parity.py: kitchen_sink, LSTM 40->128 peephole+projection, gesture,
#             looped; max |diff| vs native <= 1e-5 and run() == step() on each side
# then two checks with the Cortex-A76 cache on an A72 (ARM_CONTROL=0 skips them).
# Both sides run a snapshot of runtime/ taken at the start ($EDGERNN_ARM_DIR/snapshot).
# Environment: EDGERNN_ARM_DIR, ARM_CPUS (default "cortex-a72 cortex-a76"; an entry
# QEMU_CPU[:NUMBA_CPU], NUMBA_CPU "host" = numba's own detection, which under qemu
# is "generic"), ARM_CONTROL, ARM_KEEP_CACHE, PYTHON (the native interpreter).
set -uo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
HERE=$REPO/demos/deploy
ARM_DIR=${EDGERNN_ARM_DIR:-/tmp/edgernn-arm}
ARM_CPUS=${ARM_CPUS:-cortex-a72 cortex-a76}
ROOTFS=$ARM_DIR/rootfs
SITE=$ARM_DIR/site
OUT=$ARM_DIR/out
mkdir -p "$ARM_DIR" "$OUT"

RESULTS=()
FAILED=0
result() {  # result PASS|FAIL|INFO NAME DETAIL
    RESULTS+=("$(printf '%-4s  %-28s %s' "$1" "$2" "$3")")
    [ "$1" = FAIL ] && FAILED=1
    printf '%s  %s: %s\n' "$1" "$2" "$3"
}
die() { echo "arm_check: $*" >&2; exit 2; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# ---------------------------------------------------------------- setup
# The aarch64 root and wheels are tests/arm/run.sh's (cached under $EDGERNN_ARM_CACHE).
T_SETUP=$(now)
paths=$(bash "$REPO/tests/arm/run.sh" --setup-only) || die "tests/arm/run.sh --setup-only failed"
ROOTFS=$(echo "$paths" | sed -n 's/^ROOTFS=//p')
SITE=$(echo "$paths" | sed -n 's/^SITE=//p')
[ -x "$ROOTFS/usr/bin/python3.11" ] && [ -d "$SITE/numba" ] || die "no aarch64 root/site from tests/arm/run.sh"
QEMU=$(command -v qemu-aarch64-static)
ARMPY=("$QEMU" "$ROOTFS/usr/bin/python3.11")
export QEMU_LD_PREFIX=$ROOTFS

# The native side: numpy, numba and llvmlite at the versions of the aarch64 site
# (tests/arm/requirements.txt): PYTHON if it has exactly those, else a venv with them.
SPEC=$(grep -E '^(numpy|numba|llvmlite)==' "$REPO/tests/arm/requirements.txt" | tr '\n' ' ' | sed 's/ $//')
have() { "$1" -c "import numpy, numba, llvmlite; print(f'numpy=={numpy.__version__} numba=={numba.__version__} llvmlite=={llvmlite.__version__}')" 2>/dev/null; }
HOSTPY=${PYTHON:-python3}
if [ "$(have "$HOSTPY")" != "$SPEC" ]; then
    HOSTPY=$ARM_DIR/host-venv/bin/python
    if [ "$(have "$HOSTPY")" != "$SPEC" ]; then
        echo "== native venv with $SPEC in $ARM_DIR/host-venv"
        rm -rf "$ARM_DIR/host-venv"
        python3 -m venv "$ARM_DIR/host-venv" || die "python3 -m venv failed (apt-get install python3-venv)"
        # shellcheck disable=SC2086
        "$HOSTPY" -m pip install -q $SPEC >"$ARM_DIR/pip.log" 2>&1 \
            || { cat "$ARM_DIR/pip.log"; die "pip install $SPEC failed"; }
    fi
fi
# Both sides run one snapshot of runtime/ (and of the helper): a checkout edited or
# pulled during the ~10 min run must not put different code on the two sides.
SNAP=$ARM_DIR/snapshot
rm -rf "$SNAP" && mkdir -p "$SNAP"
cp -r "$REPO/runtime" "$SNAP/edgernn" || die "could not copy runtime/ to $SNAP"
cp "$HERE/arm_parity.py" "$SNAP/" || die "could not copy arm_parity.py to $SNAP"
find "$SNAP" -name __pycache__ -prune -exec rm -rf {} +
REV=$(git -C "$REPO" describe --always --dirty 2>/dev/null || echo "no git")
PARITY=$SNAP/arm_parity.py
SETUP_S=$(since "$T_SETUP")
echo "== setup ready in ${SETUP_S} s ($SPEC; edgernn runtime/ at $REV)"

arm() {  # arm QEMU_CPU NUMBA_CPU CACHE ARGS...: run python3.11 under qemu-aarch64
    local qcpu=$1 ncpu=$2 cache=$3; shift 3
    local env=(QEMU_CPU="$qcpu" PYTHONPATH="$SNAP:$SITE" EDGERNN_CACHE_DIR="$cache" PYTHONDONTWRITEBYTECODE=1)
    [ "$ncpu" = host ] || env+=(NUMBA_CPU_NAME="$ncpu")
    env -u NUMBA_CPU_NAME -u NUMBA_CPU_FEATURES -u NUMBA_CACHE_DIR "${env[@]}" "${ARMPY[@]}" "$@"
}
native() {
    env -u NUMBA_CPU_NAME -u NUMBA_CACHE_DIR PYTHONPATH="$SNAP" \
        EDGERNN_CACHE_DIR="$ARM_DIR/cache-native" PYTHONDONTWRITEBYTECODE=1 "$HOSTPY" "$@"
}
demo_lines() { grep -E '^ {1,3}[0-9]+ +[A-Za-z]|^accuracy' "$1"; }  # table rows, accuracy line

# ---------------------------------------------------------------- native reference
echo "== native ($(uname -m)): parity reference and demo"
native "$PARITY" run "$OUT/native.npz" >"$OUT/native-parity.log" 2>&1 \
    || { cat "$OUT/native-parity.log"; die "the native parity run failed"; }
native -m edgernn.cli demo --limit 8 >"$OUT/native-demo.txt" 2>&1 \
    || { cat "$OUT/native-demo.txt"; die "the native demo failed"; }
result INFO "native demo" "$(grep '^accuracy' "$OUT/native-demo.txt" | cut -c12- | cut -d';' -f1)"

# ---------------------------------------------------------------- per emulated CPU
for entry in $ARM_CPUS; do
    qcpu=${entry%%:*}; ncpu=${entry#*:}; [ "$entry" = "$qcpu" ] && ncpu=$qcpu
    tag=$qcpu; [ "$ncpu" = "$qcpu" ] || tag="$qcpu/numba=$ncpu"
    name=${tag//\//_}
    cache=$ARM_DIR/cache-$name
    [ "${ARM_KEEP_CACHE:-0}" = 1 ] || rm -rf "$cache"
    echo "== QEMU_CPU=$qcpu, numba CPU $ncpu, cache $cache"

    if line=$(arm "$qcpu" "$ncpu" "$cache" -c "
import platform, numpy, numba, llvmlite.binding as ll
from edgernn.kernels import CACHE_DIR
print(platform.machine(), 'numpy', numpy.__version__, 'numba', numba.__version__,
      'cpu', numba.config.CPU_NAME or ll.get_host_cpu_name(), 'kernels import')" 2>&1); then
        result PASS "$tag import" "$line"
    else
        result FAIL "$tag import" "$(echo "$line" | tail -1)"; continue
    fi

    t=$(now)
    if arm "$qcpu" "$ncpu" "$cache" "$PARITY" compile "$OUT/$name-compile.json" \
            >"$OUT/$name-compile.log" 2>&1; then
        result PASS "$tag compile" "$(tail -1 "$OUT/$name-compile.log" | sed 's/^ *//') [wall $(since "$t") s]"
    else
        result FAIL "$tag compile" "exit $?: $(tail -1 "$OUT/$name-compile.log")"; continue
    fi

    if arm "$qcpu" "$ncpu" "$cache" "$PARITY" compile "$OUT/$name-warmup2.json" \
            >"$OUT/$name-warmup2.log" 2>&1; then
        n=$("$HOSTPY" -c "import json, sys; print(json.load(open(sys.argv[1]))['compiles'])" \
            "$OUT/$name-warmup2.json")
        ready=$(grep -oE 'ready in [0-9.]+ s' "$OUT/$name-warmup2.log")
        if [ "$n" = 0 ]; then
            result PASS "$tag cached" "second edgernn warmup: nothing compiled, $ready"
        else
            result FAIL "$tag cached" "second edgernn warmup compiled $n functions: the cache was not used"
        fi
    else
        result FAIL "$tag cached" "exit $?: $(tail -1 "$OUT/$name-warmup2.log")"
    fi

    if arm "$qcpu" "$ncpu" "$cache" -m edgernn.cli demo --limit 8 >"$OUT/$name-demo.txt" 2>&1; then
        acc=$(grep '^accuracy' "$OUT/$name-demo.txt" | cut -c12- | cut -d';' -f1)
        lat=$(grep -oE 'step\(\): [0-9.]+ µs per frame' "$OUT/$name-demo.txt")
        if diff <(demo_lines "$OUT/native-demo.txt") <(demo_lines "$OUT/$name-demo.txt") \
                >"$OUT/$name-demo.diff"; then
            result PASS "$tag demo" "$acc, predictions identical to native; $lat (emulated)"
        else
            result FAIL "$tag demo" "$acc; differs from native, see $OUT/$name-demo.diff"
        fi
    else
        result FAIL "$tag demo" "exit $?: $(tail -1 "$OUT/$name-demo.txt")"
    fi

    if arm "$qcpu" "$ncpu" "$cache" "$PARITY" run "$OUT/$name.npz" \
            >"$OUT/$name-parity.log" 2>&1; then
        native "$PARITY" compare "$OUT/native.npz" "$OUT/$name.npz" \
            >"$OUT/$name-compare.log" 2>&1
        rc=$?
        steps=$(awk '/first step/ { printf "%s%s %s µs", sep, $1, $7; sep=", " }' "$OUT/$name-parity.log")
        detail="$(tail -1 "$OUT/$name-compare.log" | sed 's/^parity [A-Z]*: //'); step(): $steps"
        if [ $rc = 0 ]; then result PASS "$tag parity" "$detail"
        else result FAIL "$tag parity" "$detail (see $OUT/$name-compare.log)"; fi
    else
        result FAIL "$tag parity" "exit $?: $(tail -1 "$OUT/$name-parity.log")"
    fi
done

# ---------------------------------------------------------------- controls
# 1. A Pi 5 setting on a Pi 4: NUMBA_CPU_NAME=cortex-a76 on an emulated A72, with the A76
#    cache.  A76 code (LSE atomics `ldadd` in numba's reference counts, `sdot`) dies with
#    SIGILL there (tests/arm/test_cpu_cache.py shows it with numba alone); edgernn sees
#    from the CPU's HWCAP that the target asks too much, warns and compiles for the CPU.
# 2. A cache filled on a Pi 5 and copied to a Pi 4 (an SD card image moved between
#    boards): it sits in the A76 target's directory, so the Pi 4 compiles its own.
if [ "${ARM_CONTROL:-1}" = 1 ] && [ -d "$ARM_DIR/cache-cortex-a76" ]; then
    echo "== controls (A76-built cache on an emulated A72)"
    rm -rf "$ARM_DIR/cache-control" && cp -r "$ARM_DIR/cache-cortex-a76" "$ARM_DIR/cache-control"
    arm cortex-a72 cortex-a76 "$ARM_DIR/cache-control" "$PARITY" run \
        "$OUT/control.npz" >"$OUT/control.log" 2>&1
    rc=$?
    if [ $rc = 0 ] && grep -q "compiles instructions this CPU does not have" "$OUT/control.log" \
        && native "$PARITY" compare "$OUT/native.npz" "$OUT/control.npz" >"$OUT/control-compare.log" 2>&1; then
        result PASS "pi5 setting on pi4" "NUMBA_CPU_NAME=cortex-a76 on A72: warned, compiled for the CPU, parity ok"
    else
        result FAIL "pi5 setting on pi4" "exit $rc$([ $rc = 132 ] && echo ' (SIGILL)'), see $OUT/control*.log"
    fi
    rm -rf "$ARM_DIR/cache-pi5to4" && cp -r "$ARM_DIR/cache-cortex-a76" "$ARM_DIR/cache-pi5to4"
    if arm cortex-a72 cortex-a72 "$ARM_DIR/cache-pi5to4" "$PARITY" compile \
            "$OUT/pi5to4-compile.json" >"$OUT/pi5to4-compile.log" 2>&1 \
        && arm cortex-a72 cortex-a72 "$ARM_DIR/cache-pi5to4" "$PARITY" run \
            "$OUT/pi5to4.npz" >"$OUT/pi5to4-parity.log" 2>&1 \
        && native "$PARITY" compare "$OUT/native.npz" "$OUT/pi5to4.npz" \
            >"$OUT/pi5to4-compare.log" 2>&1; then
        n=$("$HOSTPY" -c "import json, sys; print(json.load(open(sys.argv[1]))['compiles'])" \
            "$OUT/pi5to4-compile.json")
        result PASS "pi5 cache on pi4" "compiled its own ($n functions), A76 code not loaded; $(
            tail -1 "$OUT/pi5to4-compare.log" | sed 's/ (tolerance.*//; s/^parity PASS: //')"
    else
        result FAIL "pi5 cache on pi4" "exit $?, see $OUT/pi5to4-*.log"
    fi
fi

echo
echo "== summary (edgernn $REV, $SPEC, setup ${SETUP_S} s, total $(since "$T_SETUP") s; logs in $OUT)"
printf '%s\n' "${RESULTS[@]}"
if [ $FAILED = 0 ]; then echo "ARM CHECK PASS"; else echo "ARM CHECK FAIL"; fi
exit $FAILED
