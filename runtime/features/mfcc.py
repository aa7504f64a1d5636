"""MFCC front end (``"type": "mfcc"``): DCT-II (orthonormal) of the log-mel, liftered.

Equals ``librosa.feature.mfcc(S=L, n_mfcc, dct_type=2, norm="ortho", lifter)`` where
``L`` is this spec's log-mel (see :mod:`.logmel`; the default ``log`` is ``"db"`` with
``top_db=None``, as librosa's ``power_to_db`` minus its whole-signal clipping, which
no stream can know).  The lifter is folded into the DCT matrix.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import mel
from .logmel import PARAMS as LOGMEL_PARAMS
from .logmel import LogMel
from .spec import FrontEndError, Param, choice, integer, number

PARAMS: dict[str, Param] = {
    **LOGMEL_PARAMS,
    "log": Param("db", choice("log", "db")),
    "n_mfcc": Param(13, integer(1)),
    "lifter": Param(0.0, number(0.0)),
}


class Mfcc(LogMel):
    """Mel-frequency cepstral coefficients, ``n_features = n_mfcc``."""

    kind = "mfcc"
    params = PARAMS

    def _cepstrum(self, s: dict[str, Any]) -> np.ndarray:
        if s["n_mfcc"] > s["n_mels"]:
            raise FrontEndError(f"front end 'mfcc': 'n_mfcc' ({s['n_mfcc']}) must be <= "
                                f"'n_mels' ({s['n_mels']})")
        return mel.dct_ortho(s["n_mfcc"], s["n_mels"]) * mel.lifter(s["n_mfcc"],
                                                                   s["lifter"])[:, None]
