"""Framing shared by the audio front ends: a frame buffer filled hop by hop.

Frame ``t`` holds samples ``[skip + t*hop, skip + t*hop + win)`` of the stream; it is
complete (and emitted) as soon as its last sample arrives, with no centre padding.
``skip`` drops leading samples that no frame uses (the left padding of a window
shorter than its FFT).  The state is the buffer ``buf T[win]`` and ``st int64[2] =
(fill, skip)``: ``fill`` samples of the next frame are in ``buf``, ``skip`` samples
are still to be dropped.  After a frame the buffer shifts left by ``hop`` (or, when
``hop > win``, empties and skips ``hop - win``), as TFLM's window stage does.
"""

from __future__ import annotations

import numpy as np

from ..kernels import kernel


class Framing:
    """Window length, hop and initial skip of a framed front end; its state and counts."""

    def __init__(self, win: int, hop: int, skip: int = 0) -> None:
        self.win, self.hop, self.skip = int(win), int(hop), int(skip)

    @property
    def delay(self) -> int:
        """After ``n`` samples a fresh stream has ``max(0, (n - delay) // hop)`` frames."""
        return self.skip + self.win - self.hop

    def new_state(self, dtype: type) -> tuple[np.ndarray, np.ndarray]:
        """A fresh ``(buf, st)``."""
        return np.zeros(self.win, dtype), np.array([0, self.skip], np.int64)

    def count(self, n: int, st: np.ndarray) -> int:
        """Frames that ``n`` more samples complete, from state ``st``."""
        need = int(st[1]) + self.win - int(st[0])  # samples until the next frame is complete
        return 0 if n < need else 1 + (n - need) // self.hop


@kernel
def fill_frame(x, pos, buf, st):
    """Move samples ``x[pos:]`` into ``buf`` until the frame is full; return the new ``pos``.

    x T[n], buf T[win], st int64[2] = (fill, skip).  The frame is ready iff st[0] == win.
    """
    n = x.shape[0]
    win = buf.shape[0]
    drop = min(st[1], n - pos)
    st[1] -= drop
    pos += drop
    fill = st[0]
    take = min(win - fill, n - pos)
    dst = buf[fill:]
    src = x[pos:]
    for i in range(take):
        dst[i] = src[i]
    st[0] = fill + take
    return pos + take


@kernel
def next_frame(buf, st, hop):
    """After a frame: keep its last ``win - hop`` samples, or skip ``hop - win`` new ones."""
    win = buf.shape[0]
    if hop < win:
        keep = win - hop
        src = buf[hop:]
        for i in range(keep):
            buf[i] = src[i]
        st[0] = keep
    else:
        st[0] = 0
        st[1] = hop - win
