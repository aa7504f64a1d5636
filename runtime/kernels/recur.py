"""The products of the recurrent kernels on packed weights (:mod:`.linalg`): the input
projection of a chunk, the recurrent product of B streams, the rows of R a GRU takes
apart.  Each picks the call that fits the pack's form and the number of rows.
"""

from __future__ import annotations

from numba.core import types
from numba.extending import overload

from . import kernel
from .linalg import _pack_kind, matvec_add, pack_rows, project


@kernel
def project_frames(x, wp, b, xw):
    """xw[t, s] = x[t, s] @ W.T + b for T frames of B streams: x f32[T, B, I],
    xw f32[T, B, O] (the input projection of a chunk; one frame needs no reshape)."""
    n_t, n_b, n_in = x.shape
    if n_t == 1:
        project(x[0], wp, b, xw[0], False)
    else:
        project(x.reshape((n_t * n_b, n_in)), wp, b, xw.reshape((n_t * n_b, xw.shape[2])),
                False)


def recurrent_add(h, wp, g):
    """g += h @ W.T for B streams.  h f32[B, K], g f32[B, O] (any strides): one pass over
    W for all streams (the column form when the binder packed W for B > 1 rows), and a
    plain matrix-vector product for one stream (no per-row bookkeeping)."""


@overload(recurrent_add)
def _recurrent_add(h, wp, g):
    if _pack_kind(wp) not in ("f32", "f32c", "q8c"):  # no one-row form (g may be strided)
        return lambda h, wp, g: project(h, wp, g[0, :0], g, True)

    def impl(h, wp, g):
        if h.shape[0] == 1:
            matvec_add(wp, h[0], g[0])
        else:
            project(h, wp, g[0, :0], g, True)

    return impl


def split_rows(wp, at, stop):
    """(rows [0, at), rows [at, stop)) of a packed weight; ``wp`` may already be that pair
    of packs (needed for int8 columns, whose row blocks cannot be cut anywhere)."""


@overload(split_rows)
def _split_rows(wp, at, stop):
    if isinstance(wp, types.BaseTuple) and len(wp) == 2 and all(
            isinstance(p, types.BaseTuple) for p in wp):
        return lambda wp, at, stop: (wp[0], wp[1])
    if _pack_kind(wp) in ("f32", "q8", "q4"):
        return lambda wp, at, stop: (pack_rows(wp, 0, at), pack_rows(wp, at, stop))
    return None


@kernel
def copy_frame(h, y):
    """y[s, j] = h[s, j] (one frame of the output from the state, any dtype): a loop, as
    numba's slice assignment checks for overlap and costs ~30-100 ns per call."""
    for s in range(h.shape[0]):
        for j in range(h.shape[1]):
            y[s, j] = h[s, j]
