"""``FrontEnd``: the streaming contract every front end follows (input checks, state, offline).

A front end turns raw samples into feature frames one hop at a time.  Subclasses
fill in four hooks and the base class does the rest:

* ``_configure(spec)`` builds the immutable tables and sets ``_sample_rate``, ``_hop``,
  ``_delay``, ``_n_features``, the jitted ``_kernel`` and its constant arguments
  ``_consts``;
* ``_new_state()`` returns a fresh state tuple (sample buffer, counters and the
  per-frame scratch, all allocated here so ``process`` allocates nothing per hop);
* ``_count(n, state)`` is how many frames ``n`` more samples complete.

``process`` then makes one kernel call, ``_kernel(x, *state, out, *_consts)``, which
consumes ``x`` into the state and writes the completed frames into ``out``.

Samples are int16 PCM (scaled by 1/32768) or float32/float64 (full scale ±1), 1-D
for audio or ``(n, channels)`` for IMU.  Bad input raises ``InputError`` before any
state changes.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import numpy as np

from ..errors import InputError
from ..kernels import kernel
from .spec import Param, fill

INT16_SCALE = np.float32(1.0 / 32768.0)
_DTYPES = (np.dtype(np.int16), np.dtype(np.float32), np.dtype(np.float64))


class FrontEnd:
    """A streaming feature extractor; one instance is one stream's state."""

    kind: ClassVar[str] = ""
    params: ClassVar[dict[str, Param]] = {}
    channels: ClassVar[int] = 0  # 0: mono audio, 1-D input; otherwise (n, channels)

    def __init__(self, spec: Mapping[str, Any] | None = None, **keys: Any) -> None:
        merged = dict(spec or {})
        merged.update(keys)
        self._spec = fill(self.kind, self.params, merged)
        self._configure(self._spec)
        self._call = direct(self._kernel)
        self._state = self._new_state()

    # --- the contract ---------------------------------------------------------------------
    def process(self, samples: Any) -> np.ndarray:
        """Consume a block of any size; return the frames it completes, f32[n_new, n_features]."""
        return self._process(self._prepare(samples), self._state)

    def offline(self, samples: Any) -> np.ndarray:
        """What a fresh front end returns for the whole signal at once (this one is untouched)."""
        return self._process(self._prepare(samples), self._new_state())

    def reset(self) -> None:
        """Forget every sample seen: back to the state of a new front end."""
        self._state = self._new_state()

    @property
    def spec(self) -> dict[str, Any]:
        """The filled spec (a copy): ``from_spec(fe.spec)`` makes an equal front end."""
        return copy.deepcopy(self._spec)

    @property
    def sample_rate(self) -> float:
        """Input samples per second."""
        return self._sample_rate

    @property
    def hop(self) -> int:
        """Input samples per feature frame."""
        return self._hop

    @property
    def frame_rate(self) -> float:
        """Feature frames per second."""
        return self._sample_rate / self._hop

    @property
    def n_features(self) -> int:
        """Values in one feature frame."""
        return self._n_features

    @property
    def delay(self) -> int:
        """Samples of look-ahead: after ``n`` samples, ``max(0, (n - delay) // hop)`` frames."""
        return self._delay

    def __repr__(self) -> str:
        return f"<edgernn.features {type(self).__name__} {self._spec}>"

    # --- shared machinery -----------------------------------------------------------------
    def _process(self, x: np.ndarray, state: tuple) -> np.ndarray:
        out = np.empty((self._count(x.shape[0], state), self._n_features), np.float32)
        if x.shape[0]:
            self._call(x, *state, out, *self._consts)
        return out

    def _prepare(self, samples: Any) -> np.ndarray:
        """Checked and converted input; raises InputError (state untouched) if unusable."""
        x = samples if isinstance(samples, np.ndarray) else np.asarray(samples)
        what = (f"(n, {self.channels}) IMU samples" if self.channels else "(n,) mono audio")
        if x.dtype not in _DTYPES:
            raise InputError(f"front end {self.kind!r}: samples must be int16 PCM or "
                             f"float32/float64 (full scale 1.0); got dtype {x.dtype}. "
                             "Convert with .astype(np.float32) or .astype(np.int16)")
        ndim_ok = x.ndim == 2 and x.shape[1] == self.channels if self.channels else x.ndim == 1
        if not ndim_ok:
            raise InputError(f"front end {self.kind!r}: samples must be {what}; "
                             f"got shape {x.shape}")
        if x.dtype.kind == "f" and x.size and not _finite32(x.reshape(-1)):
            raise InputError(f"front end {self.kind!r}: samples contain NaN or Inf (or values "
                             "beyond float32 range); nothing was consumed. Clean the input "
                             "(e.g. np.nan_to_num)")
        x = self._convert(x)
        return x if x.flags.writeable else x.copy()  # one compiled kernel type: writable

    def _convert(self, x: np.ndarray) -> np.ndarray:
        """Default: float32, C-contiguous; int16 scaled by 1/32768 (exact)."""
        if x.dtype == np.int16:
            return np.multiply(x, INT16_SCALE, dtype=np.float32)
        return np.ascontiguousarray(x, dtype=np.float32)

    # --- hooks ----------------------------------------------------------------------------
    def _configure(self, spec: dict[str, Any]) -> None:
        raise NotImplementedError

    def _new_state(self) -> tuple:
        raise NotImplementedError

    def _count(self, n: int, state: tuple) -> int:
        raise NotImplementedError



def direct(kernel: Any) -> Callable[..., Any]:
    """``kernel`` called through numba's dispatcher once, then through the compiled
    overload for those argument types (skips ~0.05 µs of type dispatch per argument)."""
    from ..bindings import direct as core_direct  # the core's helper, shared

    return core_direct(kernel)


@kernel
def _finite32(x):
    """True iff every value of x (f32 or f64 [n]) is finite and fits in float32."""
    for i in range(x.shape[0]):
        if not abs(x[i]) <= 3.4028234663852886e38:
            return False
    return True
