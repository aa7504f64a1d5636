"""Choose a writable numba cache directory before any kernel is defined.

numba resolves ``cache=True`` locators when a jitted function is *decorated*;
with no writable location the import fails ("no locator available").  Order:
``EDGERNN_CACHE_DIR``, ``NUMBA_CACHE_DIR``, ``$XDG_CACHE_HOME/edgernn``,
``~/.cache/edgernn``, then a per-user temp dir.  The first that is writable wins.
"""

from __future__ import annotations

import os
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


def configure() -> str:
    """Point numba's cache at the first writable candidate; return that path."""
    chosen = next((p for p in candidates() if _writable(p)), None)
    if chosen is None:  # nothing writable at all: a fresh private temp dir
        chosen = Path(tempfile.mkdtemp(prefix="edgernn-cache-"))
    os.environ["NUMBA_CACHE_DIR"] = str(chosen)
    import numba

    numba.config.CACHE_DIR = str(chosen)
    return str(chosen)
