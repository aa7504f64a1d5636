"""Streaming front ends: raw samples -> feature frames, one hop at a time.

A front end is part of a model's contract: the model must get the features it was
trained on, so its spec (a JSON-able dict with a ``"type"`` key) is stored in the
``.ern`` metadata under ``"frontend"``.

>>> from edgernn import features
>>> fe = features.from_spec({"type": "logmel", "n_mels": 40})
>>> frames = fe.process(block)          # any block size -> f32[n_new_frames, 40]
>>> features.spec_of(fe)                # the filled spec, for the metadata
>>> fe = features.for_model(model)      # from model.metadata["frontend"], or None

Types: ``logmel`` (:mod:`.logmel`), ``mfcc`` (:mod:`.mfcc`), ``micro`` (TFLM micro
front end, :mod:`.micro`), ``imu`` (per-channel normalization, :mod:`.imu`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from .base import FrontEnd
from .imu import Imu
from .logmel import LogMel
from .mfcc import Mfcc
from .micro import MicroFrontEnd
from .spec import FrontEndError

TYPES: dict[str, type[FrontEnd]] = {
    c.kind: c for c in (LogMel, Mfcc, MicroFrontEnd, Imu)
}

__all__ = ["TYPES", "FrontEnd", "FrontEndError", "Imu", "LogMel", "MicroFrontEnd", "Mfcc",
           "for_model", "from_spec", "spec_of", "warmup"]


def from_spec(spec: Mapping[str, Any]) -> FrontEnd:
    """A new front end (fresh state) from a spec; FrontEndError if the spec is bad."""
    if not isinstance(spec, Mapping):
        raise FrontEndError(f"a front-end spec must be a dict with a 'type' key; got {spec!r}")
    kind = spec.get("type")
    if not isinstance(kind, str) or kind not in TYPES:
        raise FrontEndError(f"front-end spec: 'type' must be one of "
                            f"{', '.join(map(repr, TYPES))}; got {kind!r}")
    return TYPES[kind](spec)


def spec_of(frontend: FrontEnd) -> dict[str, Any]:
    """The filled, JSON-able spec of ``frontend``: ``from_spec(spec_of(fe))`` equals ``fe``."""
    if not isinstance(frontend, FrontEnd):
        raise TypeError(f"spec_of() needs a FrontEnd, got {type(frontend).__name__}")
    return frontend.spec


def for_model(model_or_metadata: Any) -> FrontEnd | None:
    """The front end a model was trained with (``metadata["frontend"]``), or None."""
    meta = getattr(model_or_metadata, "metadata", model_or_metadata)
    if not isinstance(meta, Mapping):
        raise TypeError("for_model() needs an edgernn Model or its metadata dict, got "
                        f"{type(model_or_metadata).__name__}")
    spec = meta.get("frontend")
    return None if spec is None else from_spec(spec)


def warmup() -> None:
    """Compile (and cache) every front-end kernel: one small block through each type."""
    audio = np.zeros(2000, np.float32)
    for kind in ("logmel", "mfcc", "micro"):
        from_spec({"type": kind}).process(audio)
    from_spec({"type": "logmel", "n_fft": 400, "win_length": 400}).process(audio)
    from_spec({"type": "imu", "mean": [0.0], "std": [1.0]}).process(np.zeros((3, 1)))
