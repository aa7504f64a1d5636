"""Choose a writable numba cache directory before any kernel is defined.

numba resolves ``cache=True`` locators when a jitted function is *decorated*;
with no writable location the import fails ("no locator available").  Order:
``EDGERNN_CACHE_DIR``, ``NUMBA_CACHE_DIR``, ``$XDG_CACHE_HOME/edgernn``,
``~/.cache/edgernn``, then a per-user temp dir.  The first that is writable wins;
kernels go to a subdirectory named after the runtime's source (:func:`source_key`).

:data:`COLD_NOTICE` says once per process, on stderr, when an edgernn kernel is
compiled because the cache does not hold it (a numba ``numba:compile`` event: it
fires on cache misses only, so a warm cache pays nothing).
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path


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
    """Cache locations in order of preference."""
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


def source_key() -> str:
    """A key of the runtime's jitted source: every ``.py`` of the package, hashed.

    numba keys a cached function on its own file only, but inlines what it calls
    from other files: a kernel cached against yesterday's ``linalg.py`` would run
    yesterday's code (and, with another scratch layout, write out of bounds).  So
    each build of the runtime gets a cache directory of its own."""
    import hashlib

    digest = hashlib.sha1()
    root = Path(__file__).resolve().parent
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(path.read_bytes())
    return f"build-{digest.hexdigest()[:16]}"


def configure() -> str:
    """Point numba's cache at the first writable candidate (a subdirectory per build of
    the runtime, see :func:`source_key`); return that path."""
    key = source_key()
    chosen = next((p / key for p in candidates() if _writable(p / key)), None)
    if chosen is None:  # nothing writable at all: a fresh private temp dir
        chosen = Path(tempfile.mkdtemp(prefix="edgernn-cache-"))
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
