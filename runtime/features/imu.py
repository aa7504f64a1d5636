"""IMU front end (``"type": "imu"``): per-channel normalization, one frame per sample.

``y[t, c] = (x[t, c] - mean[c]) / std[c]`` for samples ``x f32[n, channels]``
(int16 counts are scaled by 1/32768 first, like audio).  Resampling between sensor
rates is the sources' job; this front end has no state and no delay.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..kernels import kernel
from .base import FrontEnd
from .spec import REQUIRED, FrontEndError, Param, number, number_list

PARAMS: dict[str, Param] = {
    "sample_rate": Param(100.0, number(0.0, open_lo=True)),
    "mean": Param(REQUIRED, number_list),
    "std": Param(REQUIRED, number_list),
}


class Imu(FrontEnd):
    """Normalized IMU frames, ``n_features = len(mean)``."""

    kind = "imu"
    params = PARAMS

    def __init__(self, spec: Any = None, **keys: Any) -> None:
        merged = dict(spec or {})
        merged.update(keys)
        mean = merged.get("mean")
        # the input shape depends on the spec: an instance attribute shadows the class one
        self.channels = len(mean) if isinstance(mean, list | tuple | np.ndarray) else 0
        super().__init__(merged)

    def _configure(self, s: dict[str, Any]) -> None:
        mean, std = s["mean"], s["std"]
        if not mean:
            raise FrontEndError("front end 'imu': 'mean' must list one value per channel; "
                                "got []")
        if len(std) != len(mean):
            raise FrontEndError(f"front end 'imu': 'std' must have one value per channel "
                                f"({len(mean)}, like 'mean'); got {len(std)}")
        self._mean = np.asarray(mean, np.float32)
        self._std = np.asarray(std, np.float32)
        if not (np.isfinite(self._mean).all() and np.isfinite(self._std).all()):
            raise FrontEndError("front end 'imu': 'mean' and 'std' must fit in float32")
        if not (self._std > 0).all():
            raise FrontEndError(f"front end 'imu': every 'std' must be > 0; got {std}")
        self._sample_rate, self._hop, self._delay = s["sample_rate"], 1, 0
        self._n_features = len(mean)
        self._kernel, self._consts = normalize, (self._mean, self._std)

    def _new_state(self) -> tuple:
        return ()

    def _count(self, n: int, state: tuple) -> int:
        return n


@kernel
def normalize(x, out, mean, std):
    """out[t, c] = (x[t, c] - mean[c]) / std[c]; x, out f32[n, C]; mean, std f32[C]."""
    for t in range(x.shape[0]):
        for c in range(x.shape[1]):
            out[t, c] = (x[t, c] - mean[c]) / std[c]
