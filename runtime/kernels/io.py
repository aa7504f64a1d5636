"""Input checks fused with the copy into a stream's input buffer."""

from __future__ import annotations

import numpy as np

from . import kernel


@kernel
def copy_checked(src, dst):
    """dst[:] = src (float32 or float64 -> float32); False if any value is NaN/Inf.

    src (n,), dst f32 (n,).  The check is on the float32 value, so 1e39 in a
    float64 frame (Inf as float32) fails too.  A failed frame touches nothing
    but the input buffer.
    """
    ok = True
    for i in range(src.shape[0]):
        v = np.float32(src[i])
        if not np.isfinite(v):
            ok = False
        dst[i] = v
    return ok


@kernel
def all_finite(a):
    """True if no element of a (n,) is NaN or Inf once converted to float32."""
    for i in range(a.shape[0]):
        if not np.isfinite(np.float32(a[i])):
            return False
    return True
