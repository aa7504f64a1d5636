"""Input checks fused with the copy into a stream's input buffer."""

from __future__ import annotations

import numpy as np

from . import kernel


@kernel
def copy_checked(src, dst):
    """dst[:] = src (any float dtype -> float32); False if any element is NaN/Inf.

    src (n,), dst f32 (n,).  The check is on the *source* values, so a frame
    that fails leaves nothing but the input buffer touched.
    """
    ok = True
    for i in range(src.shape[0]):
        v = src[i]
        if not np.isfinite(v):
            ok = False
        dst[i] = np.float32(v)
    return ok


@kernel
def all_finite(a):
    """True if no element of a (n,) is NaN or Inf."""
    for i in range(a.shape[0]):
        if not np.isfinite(a[i]):
            return False
    return True
