"""What one TFLite tensor is per frame: :class:`Meta`, and the :class:`Refuse` signal.

A TFLite tensor has a fixed shape, e.g. ``[1, 8, 16]`` (batch 1, 8 frames, 16
features).  In the IR a value holds *one frame*: the tensor without its time and
batch axes (``(16,)``).  A :class:`Meta` records which TFLite axes are time and
batch, the IR value holding one frame, and the *layout* of that value: the IR
frame may hold the TFLite frame axes in another order (``perm``), so that an NHWC
conv feeds the channels-first ``Conv`` record without a transpose per frame; a
transpose is emitted only where an op needs the TFLite order (see
``Context.value``).  Constants have ``data`` instead of a value.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np


class Refuse(Exception):  # noqa: N818 - a control-flow signal, collected into the error
    """This operator cannot be converted; the message says why."""


@dataclass(frozen=True, eq=False)
class Meta:
    """One TFLite tensor as the importer sees it.

    ``value``: the IR value of one frame ('' for a constant, whose array is ``data``).
    ``perm``: IR axis k holds TFLite frame axis ``perm[k]`` (None: the TFLite order).
    ``q``: (dtype, scale, zero point) of an integer value, None for float32.
    ``tpad``: frames of zero padding over time not yet absorbed by a conv.
    ``reduced``: a last-step value (at frame t: the source on frames 1..t).
    ``stride``/``delay``: input frames per frame of this value and before its first.
    ``kind``: '' for data; loop and variable markers otherwise ("counter", "handle",
    "sequence"), with ``extra`` holding what they refer to.
    """

    shape: tuple[int, ...]
    value: str = ""
    data: np.ndarray | None = None
    q: tuple[str, float, int] | None = None
    time: int | None = None
    batch: int | None = None
    perm: tuple[int, ...] | None = None
    tpad: tuple[int, int] = (0, 0)
    reduced: bool = False
    stride: int = 1
    delay: int = 0
    tail: int = 0
    kind: str = ""
    extra: Any = None

    @property
    def is_const(self) -> bool:
        return self.data is not None

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def frame_axes(self) -> tuple[int, ...]:
        """The TFLite axes that make up a frame, in TFLite order."""
        return tuple(a for a in range(self.rank) if a not in (self.time, self.batch))

    @property
    def frame(self) -> tuple[int, ...]:
        """The frame shape in TFLite order."""
        return tuple(self.shape[a] for a in self.frame_axes)

    @property
    def layout(self) -> tuple[int, ...]:
        """``perm``, with None spelled out as the identity."""
        return self.perm if self.perm is not None else tuple(range(len(self.frame)))

    @property
    def ir_shape(self) -> tuple[int, ...]:
        """The frame shape of the IR value (the frame in ``perm`` order)."""
        f = self.frame
        return tuple(f[p] for p in self.layout)

    def axis(self, axis: int, what: str = "the operator") -> int:
        """The TFLite axis ``axis`` (negative counts from the end), checked to be in range."""
        if not -self.rank <= axis < max(self.rank, 1):
            raise Refuse(f"{what}: axis {axis} is out of range for rank {self.rank}")
        return axis % self.rank if self.rank else 0

    def frame_axis(self, axis: int, what: str = "the operator") -> int:
        """The index into :attr:`frame` of TFLite ``axis``; refuse time and batch axes."""
        a = self.axis(axis, what)
        if a == self.time:
            raise Refuse(f"{what} works across the time axis (axis {a}); streaming needs "
                         "everything over time to be a causal recurrence or convolution")
        if a == self.batch:
            raise Refuse(f"{what} works across the batch axis (axis {a})")
        return self.frame_axes.index(a)

    def ir_axis(self, axis: int, what: str = "the operator") -> int:
        """The IR axis holding TFLite ``axis`` (a frame axis)."""
        return self.layout.index(self.frame_axis(axis, what))

    def with_(self, **kw) -> Meta:
        return dataclasses.replace(self, **kw)

    def schedule(self) -> tuple[int, int]:
        return self.stride, self.delay


def identity(n: int) -> tuple[int, ...]:
    return tuple(range(n))
