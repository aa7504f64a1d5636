"""Numba step kernels, one module per op family.

Conventions every kernel follows (see DESIGN.md, "Numba: measured lessons"):

* decorate with :func:`kernel` (``cache=True``, ``fastmath={"reassoc","contract"}``,
  ``error_model="numpy"``, ``nogil``) so reductions vectorize and no Python
  exceptions are raised from inside;
* every kernel writes into preallocated output arrays and returns nothing
  (or an int count); no allocation inside the per-frame loop;
* arrays are float32 C-contiguous; activations are ``(T, B, ...)`` — T frames of
  a chunk, B streams; weights are in the canonical layouts of :mod:`edgernn.ir`;
* float constants are written ``np.float32(...)`` so math stays float32;
* loops run from 0 (take a slice view rather than ``range(a, b)``);
* optional tensors are passed as empty arrays (shape ``(0,)`` / ``(0, 0)``);
* the shapes are stated in each kernel's docstring.

Importing this package first points numba's cache at a writable directory.
"""

from __future__ import annotations

from numba import njit

from .._cache import configure as _configure_cache

CACHE_DIR = _configure_cache()

FASTMATH = {"reassoc", "contract"}


def kernel(fn):
    """Decorator for every jitted function of the runtime (kernels and helpers)."""
    return njit(cache=True, nogil=True, fastmath=FASTMATH, error_model="numpy")(fn)
