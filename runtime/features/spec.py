"""Front-end specs: JSON-able dicts with a ``"type"`` key, checked and filled with defaults.

A spec is part of a model's contract (stored in the ``.ern`` metadata under
``"frontend"``), so it is validated strictly: an unknown key, a wrong type or a value
outside the allowed set raises :class:`FrontEndError` naming the key and what is
allowed.  Filled specs hold only ``int``, ``float``, ``bool``, ``str``, ``None`` and
lists of floats, so ``json.dumps`` round-trips them exactly.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import EdgeRNNError

_MISSING = object()


class FrontEndError(EdgeRNNError, ValueError):
    """A front-end spec is malformed: unknown type or key, wrong type, value out of range."""


@dataclass(frozen=True)
class Param:
    """One spec key: its default (``REQUIRED`` if none) and a checker that normalizes it."""

    default: Any
    check: Callable[[str, str, Any], Any]


REQUIRED = _MISSING


def fail(kind: str, key: str, what: str, value: Any) -> FrontEndError:
    """The error for one bad key of a ``kind`` spec."""
    return FrontEndError(f"front end {kind!r}: {key!r} must be {what}; got {value!r}")


def integer(lo: int, hi: int | None = None) -> Callable[[str, str, Any], int]:
    def check(kind: str, key: str, v: Any) -> int:
        ok = (isinstance(v, numbers.Integral) and not isinstance(v, bool | np.bool_)
              and v >= lo and (hi is None or v <= hi))
        if not ok:
            rng = f">= {lo}" if hi is None else f"in [{lo}, {hi}]"
            raise fail(kind, key, f"an integer {rng}", v)
        return int(v)
    return check


def number(lo: float, hi: float | None = None, *,
           open_lo: bool = False) -> Callable[[str, str, Any], float]:
    def check(kind: str, key: str, v: Any) -> float:
        good = (isinstance(v, numbers.Real) and not isinstance(v, bool | np.bool_)
                and math.isfinite(v))
        if good:
            good = (v > lo if open_lo else v >= lo) and (hi is None or v <= hi)
        if not good:
            rng = ("> " if open_lo else ">= ") + repr(lo) + ("" if hi is None else f" and <= {hi}")
            raise fail(kind, key, f"a finite number {rng}", v)
        return float(v)
    return check


def choice(*allowed: Any) -> Callable[[str, str, Any], Any]:
    def check(kind: str, key: str, v: Any) -> Any:
        for a in allowed:  # `is` for None/bools so that 1 != True here
            if (v is a) or (type(v) is type(a) and v == a):
                return a
        raise fail(kind, key, "one of " + ", ".join(_json(a) for a in allowed), v)
    return check


def boolean(kind: str, key: str, v: Any) -> bool:
    if not isinstance(v, bool):
        raise fail(kind, key, "true or false", v)
    return v


def number_list(kind: str, key: str, v: Any) -> list[float]:
    if isinstance(v, str | bytes | Mapping) or not hasattr(v, "__iter__"):
        raise fail(kind, key, "a list of finite numbers", v)
    items = list(v.tolist() if hasattr(v, "tolist") else v)
    check = number(-math.inf)
    return [check(kind, key, x) for x in items]


def _json(v: Any) -> str:
    """How ``v`` is spelled in a spec file (JSON)."""
    if v is None or isinstance(v, bool):
        return {None: "null", True: "true", False: "false"}[v]
    return repr(v)


def fill(kind: str, params: Mapping[str, Param], spec: Mapping[str, Any]) -> dict[str, Any]:
    """``spec`` checked against ``params``, defaults filled in, ``"type"`` first.

    Defaults given as callables are computed from the keys filled before them.
    """
    if not isinstance(spec, Mapping):
        raise FrontEndError(f"a front-end spec must be a dict with a 'type' key; got {spec!r}")
    if spec.get("type", kind) != kind:
        raise FrontEndError(f"a {kind!r} front end cannot be made from a spec of type "
                            f"{spec['type']!r}")
    unknown = [k for k in spec if k != "type" and k not in params]
    if unknown:
        raise FrontEndError(f"front end {kind!r}: unknown key {unknown[0]!r}; allowed keys: "
                            + ", ".join(sorted(params)))
    out: dict[str, Any] = {"type": kind}
    for key, p in params.items():
        v = spec.get(key, _MISSING)
        if v is _MISSING or (v is None and callable(p.default)):
            if p.default is REQUIRED:
                raise FrontEndError(f"front end {kind!r}: missing required key {key!r}")
            v = p.default(out) if callable(p.default) else p.default
        out[key] = p.check(kind, key, v)
    return out
