"""Choose numba's cache directory, one per compile target, before any kernel is defined.

numba resolves ``cache=True`` locators when a jitted function is *decorated*;
with no writable location the import fails ("no locator available").  The root is
the first writable of ``EDGERNN_CACHE_DIR``, ``NUMBA_CACHE_DIR``,
``$XDG_CACHE_HOME/edgernn``, ``~/.cache/edgernn`` and a per-user temp dir.

Inside the root every compile target has its own directory, named by the machine,
the CPU numba compiles for and a hash of the CPU features it compiles with
(``aarch64-cortex-a72-5d41402abc4b``): a cache filled on a Pi 5 (Cortex-A76) and
copied with the SD card to a Pi 4 (Cortex-A72) is never even looked at there.

A target can still be wrong for the CPU: ``NUMBA_CPU_NAME=cortex-a76`` on a Pi 4
(an environment or image made for a Pi 5) compiles instructions the Pi 4 lacks
(``ldadd``, ``sdot``), and the first kernel call dies with SIGILL.  On aarch64 Linux
the target is checked against the CPU's HWCAP bits first; when it asks for more,
edgernn warns and compiles for the CPU it runs on instead.

The target's directory is also keyed on the runtime's own source (:func:`source_key`):
numba keys a cached function on its own file, but inlines what it calls from other
files, so a kernel cached by another build of edgernn would run that build's code.

:data:`COLD_NOTICE` says once per process, on stderr, when an edgernn kernel is
compiled because the cache does not hold it (a numba ``numba:compile`` event: it
fires on cache misses only, so a warm cache pays nothing).
"""

from __future__ import annotations

import hashlib
import os
import platform
import re
import sys
import tempfile
import warnings
from pathlib import Path

# Linux aarch64 HWCAP / HWCAP2 bit -> the LLVM feature a compiler may use because of it.
HWCAP_FEATURES = {0: "fp-armv8", 1: "neon", 3: "aes", 6: "sha2", 7: "crc", 8: "lse",
                  9: "fullfp16", 12: "rdm", 15: "rcpc", 20: "dotprod", 22: "sve"}
HWCAP2_FEATURES = {1: "sve2", 13: "i8mm", 14: "bf16"}
_V82 = frozenset({"lse", "rdm", "rcpc", "fullfp16", "dotprod"})
_V9 = _V82 | {"sve", "sve2", "i8mm", "bf16"}
# Optional features (of those above) that LLVM assumes for a named CPU.  Armv8.0 cores
# such as the Pi 3/4's Cortex-A53/A72 assume none.  Unknown names are not checked.
CPU_FEATURES = {
    **dict.fromkeys(["generic", "cortex-a35", "cortex-a53", "cortex-a57", "cortex-a72",
                     "cortex-a73"], frozenset()),
    **dict.fromkeys(["cortex-a55", "cortex-a65", "cortex-a75", "cortex-a76", "cortex-a76ae",
                     "cortex-a77", "cortex-a78", "cortex-a78c", "cortex-x1", "neoverse-n1"],
                    _V82),
    **dict.fromkeys(["cortex-a510", "cortex-a710", "cortex-a715", "cortex-x2", "cortex-x3",
                     "neoverse-n2"], _V9),
    "neoverse-v1": _V82 | {"sve", "i8mm", "bf16"},
}


def _writable(path: Path) -> bool:
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".probe-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
        return True
    except OSError:
        return False


def candidates() -> list[Path]:
    """Cache roots in order of preference."""
    out = []
    for var in ("EDGERNN_CACHE_DIR", "NUMBA_CACHE_DIR"):
        if os.environ.get(var):
            out.append(Path(os.environ[var]))
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg:
        out.append(Path(xdg) / "edgernn")
    out.append(Path.home() / ".cache" / "edgernn")
    out.append(Path(tempfile.gettempdir()) / f"edgernn-cache-{os.getuid()}")
    return out


def cache_root() -> Path:
    """The first writable of :func:`candidates` (nothing writable at all: a fresh private
    temp dir)."""
    root = next((p for p in candidates() if _writable(p)), None)
    return root if root is not None else Path(tempfile.mkdtemp(prefix="edgernn-cache-"))


def compile_target() -> tuple[str, str]:
    """The CPU name and feature string numba compiles for (what its own cache key holds)."""
    import llvmlite.binding as ll
    import numba
    from numba.core.codegen import get_host_cpu_features

    cpu = numba.config.CPU_NAME or ll.get_host_cpu_name()
    features = numba.config.CPU_FEATURES
    return cpu, get_host_cpu_features() if features is None else features


def target_key(cpu: str, features: str, machine: str | None = None) -> str:
    """Directory name of one compile target: ``machine-cpu-hash(features)``."""
    digest = hashlib.sha256(features.encode()).hexdigest()[:12]
    name = re.sub(r"[^A-Za-z0-9._+-]", "_", f"{machine or platform.machine()}-{cpu}")
    return f"{name}-{digest}"


def hwcap_features(hwcap: int, hwcap2: int) -> set[str]:
    """The checked LLVM features a CPU has, from its AT_HWCAP and AT_HWCAP2 words."""
    return ({f for bit, f in HWCAP_FEATURES.items() if hwcap >> bit & 1}
            | {f for bit, f in HWCAP2_FEATURES.items() if hwcap2 >> bit & 1})


def missing_features(cpu: str, features: str, hwcap: int, hwcap2: int) -> list[str] | None:
    """Features the target (``cpu`` plus ``+f``/``-f`` in ``features``) needs and the CPU
    lacks; None when ``cpu`` is not in :data:`CPU_FEATURES` (nothing known to check)."""
    if cpu not in CPU_FEATURES:
        return None
    flags = [f.strip() for f in features.split(",") if f.strip()]
    wanted = (set(CPU_FEATURES[cpu]) | {f[1:] for f in flags if f[0] == "+"}) \
        - {f[1:] for f in flags if f[0] == "-"}
    checked = set(HWCAP_FEATURES.values()) | set(HWCAP2_FEATURES.values())
    return sorted((wanted & checked) - hwcap_features(hwcap, hwcap2))


def _hwcaps() -> tuple[int, int] | None:
    """(AT_HWCAP, AT_HWCAP2) of this process on Linux aarch64, else None."""
    if platform.machine() != "aarch64" or not platform.system() == "Linux":
        return None
    import ctypes

    try:
        getauxval = ctypes.CDLL(None).getauxval
    except (OSError, AttributeError):
        return None
    getauxval.restype = ctypes.c_ulong
    getauxval.argtypes = [ctypes.c_ulong]
    return getauxval(16), getauxval(26)


def _check_target() -> None:
    """Compile for the CPU this runs on when the configured target would raise SIGILL here."""
    caps = _hwcaps()
    if caps is None:
        return
    cpu, features = compile_target()
    missing = missing_features(cpu, features, *caps)
    if not missing:
        return
    import numba
    from numba.core.registry import cpu_target

    asked = ", ".join(f"{v}={os.environ[v]}" for v in ("NUMBA_CPU_NAME", "NUMBA_CPU_FEATURES")
                      if os.environ.get(v)) or f"numba's target {cpu}"
    what = (f"{asked} compiles instructions this CPU does not have ({', '.join(missing)}): "
            "the first kernel call would die with SIGILL")
    if "_toplevel_target_context" in cpu_target.__dict__:  # numba already built its target
        from .errors import EdgeRNNError

        raise EdgeRNNError(f"{what}. Unset NUMBA_CPU_NAME and NUMBA_CPU_FEATURES (or set "
                           "them for this board) before anything compiles, and start again")
    for var in ("NUMBA_CPU_NAME", "NUMBA_CPU_FEATURES"):  # os.environ too: numba reloads it
        os.environ.pop(var, None)
    numba.config.CPU_NAME = numba.config.CPU_FEATURES = None
    cpu, features = compile_target()
    still = missing_features(cpu, features, *caps)
    if still:  # even the detected CPU's name promises too much: switch those features off
        features = ",".join(filter(None, [features, *(f"-{f}" for f in still)]))
        numba.config.CPU_FEATURES = os.environ["NUMBA_CPU_FEATURES"] = features
    warnings.warn(f"edgernn: {what}; compiling for this CPU ({cpu}) instead. Unset "
                  "NUMBA_CPU_NAME and NUMBA_CPU_FEATURES to silence this.", RuntimeWarning,
                  stacklevel=3)


def source_key() -> str:
    """A hash of the runtime's source: every ``.py`` of the package (a stale kernel that
    inlined another build's callee would run that code, and with another scratch layout
    write out of bounds: seen here)."""
    digest = hashlib.sha1()
    root = Path(__file__).resolve().parent
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def configure() -> str:
    """Point numba's cache at the compile target's directory under the first writable
    root; return that directory."""
    _check_target()
    root = cache_root()
    cpu, features = compile_target()
    chosen = root / target_key(cpu, f"{features}|{source_key()}")
    if not _writable(chosen):
        chosen = root
    os.environ["EDGERNN_CACHE_DIR"] = str(root)  # child processes key their own target
    os.environ["NUMBA_CACHE_DIR"] = str(chosen)
    import numba

    numba.config.CACHE_DIR = str(chosen)
    COLD_NOTICE.install(str(chosen))
    return str(chosen)


class _ColdNotice:
    """Counts compilations of edgernn kernels; says once that they happen, and why."""

    def __init__(self) -> None:
        self.enabled, self.said, self.compiles, self.cache_dir = True, False, 0, ""
        self._listener = None

    def install(self, cache_dir: str) -> None:
        from numba.core import event

        self.cache_dir = cache_dir
        if self._listener is None:
            notice = self

            class Listener(event.Listener):
                def on_start(self, ev) -> None:
                    notice.compiling(ev.data["dispatcher"])

                def on_end(self, ev) -> None:
                    pass

            self._listener = Listener()
            event.register("numba:compile", self._listener)

    def compiling(self, dispatcher) -> None:
        module = getattr(getattr(dispatcher, "py_func", None), "__module__", None) or ""
        if not module.startswith("edgernn."):
            return  # somebody else's numba function
        self.compiles += 1
        if self.enabled and not self.said:
            self.said = True
            print(f"edgernn: compiling kernels: the cache ({self.cache_dir}) does not have "
                  f"them yet. This happens once per machine and can take a minute; "
                  f"`edgernn warmup` does it ahead of time.", file=sys.stderr, flush=True)


COLD_NOTICE = _ColdNotice()
