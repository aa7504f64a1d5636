"""Inputs whose frame is a chunk of samples of free length: choosing the chunk length.

A step model such as Silero VAD takes ``input [batch, samples]`` with the sample
axis symbolic (and sometimes *named* like time: ``sequence``): any length runs, but
one call is meant to be one step of the model.  Such an axis is a frame axis whose
length the conversion must fix:

* ``frame={"input": 576}`` (``--frame input=576``) gives it;
* otherwise :func:`auto_length` picks it from the model's strided convs over that
  axis: the longest chunk for which the most downsampling conv yields exactly one
  position (one step per call), shortened so that the first strided conv uses every
  sample (no remainder).  For Silero at 16 kHz that is 576 = 512 new samples + 64 of
  context; with ``sr=8000``, 288.  The report states the rule and the override.
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import onnx

from ..errors import ConversionError
from .graph import attrs_of, dynamic_names
from .io import InputSpec

MAX_LEN = 1 << 16


def free_axes(spec: InputSpec) -> list[int]:
    """Axes of ``spec`` with no fixed size that are neither time nor batch nor sized."""
    sized = {a for a, _ in spec.sizes}
    return [i for i, d in enumerate(spec.dims) if not (isinstance(d, int) and d > 0)
            and i not in (spec.time, spec.batch) and i not in sized]


def _given(spec: InputSpec, frame: dict, axes: list[int]) -> InputSpec:
    sizes = frame[spec.name]
    sizes = [int(v) for v in (sizes if isinstance(sizes, (list, tuple)) else
                              str(sizes).replace("x", ",").split(","))]
    if len(sizes) != len(axes) or min(sizes) < 1:
        raise ConversionError(f"--frame {spec.name}={frame[spec.name]}: the input {spec.dims} has "
                              f"{len(axes)} free frame axes {axes}; give one size >= 1 each")
    note = f"free axes {axes} fixed to {sizes} (given)"
    return dataclasses.replace(spec, sizes=spec.sizes + tuple(zip(axes, sizes, strict=True)),
                               how=f"{spec.how}; {note}")


def size_free_axes(model: onnx.ModelProto, specs: list[InputSpec],
                   frame: dict | None) -> list[InputSpec]:
    """Every data input with free frame axes gets sizes: given, or chosen (one free axis)."""
    frame = dict(frame or {})
    unknown = set(frame) - {s.name for s in specs if not s.state_of}
    if unknown:
        raise ConversionError(f"--frame given for {sorted(unknown)}, not data inputs of the "
                              f"model ({sorted(s.name for s in specs if not s.state_of)})")
    out = []
    for s in specs:
        axes = [] if s.state_of else free_axes(s)
        if axes and s.name in frame:
            s = _given(s, frame, axes)
        elif len(axes) == 1:
            length, rule = auto_length(model, s, axes[0], specs)
            s = dataclasses.replace(s, sizes=s.sizes + ((axes[0], length),),
                                    how=f"{s.how}; {rule}")
        elif axes:
            raise ConversionError(f"input {s.name!r} {list(s.dims)}: axes {axes} have no fixed "
                                  f"size and are neither time nor batch; give their sizes, e.g. "
                                  f"--frame {s.name}={'x'.join('N' * len(axes))}")
        out.append(s)
    return out


def as_chunks(specs: list[InputSpec]) -> list[InputSpec] | None:
    """Step models (with state inputs): data inputs whose time axis was taken from a dim
    name alone, re-read as a chunk axis; None if there are none."""
    if not any(s.state_of for s in specs):
        return None
    named = [s for s in specs if not s.state_of and s.time is not None
             and s.how.startswith("dim named")]
    if not named:
        return None
    return [dataclasses.replace(s, time=None, how=f"axis {s.time} ({s.dims[s.time]!r}) is a "
                                                  f"chunk of samples, not time")
            if s in named else s for s in specs]


class _Runs:
    """The model run by the reference evaluator at chunk lengths of one input axis."""

    def __init__(self, model: onnx.ModelProto, spec: InputSpec, axis: int,
                 specs: list[InputSpec]) -> None:
        from onnx.reference import ReferenceEvaluator

        self.model, self.spec, self.axis, self.specs = model, spec, axis, specs
        dyn = dynamic_names(model.graph, [spec.name])
        self.convs = [n for n in model.graph.node if n.op_type == "Conv" and n.input[0] in dyn]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.ev = ReferenceEvaluator(model)
        self.cache: dict[int, dict | None] = {}

    def _feeds(self, length: int) -> dict[str, np.ndarray]:
        rng = np.random.default_rng(0)
        feeds = {}
        for s in self.specs:
            sized = dict(s.sizes)
            dims = [length if (s is self.spec and i == self.axis) else sized.get(i, d)
                    if not (isinstance(d, int) and d > 0) else d for i, d in enumerate(s.dims)]
            dims = [d if isinstance(d, int) and d > 0 else 1 for d in dims]
            feeds[s.name] = rng.standard_normal(dims).astype(np.float32) * 0.1
        return feeds

    def __call__(self, length: int) -> dict | None:
        """{conv output: (its input length, its output length)} on the last axis, or None."""
        if length not in self.cache:
            try:
                with warnings.catch_warnings(), np.errstate(all="ignore"):
                    warnings.simplefilter("ignore")
                    res = self.ev.run(None, self._feeds(length), intermediate=True)
                self.cache[length] = {n.output[0]: (np.shape(res[n.input[0]])[-1],
                                                    np.shape(res[n.output[0]])[-1])
                                      for n in self.convs}
            except Exception:  # noqa: BLE001 - too short or too long a chunk for this model
                self.cache[length] = None
        return self.cache[length]


def _no_rule(spec: InputSpec, axis: int, why: str) -> ConversionError:
    return ConversionError(f"input {spec.name!r} {list(spec.dims)}: axis {axis} is a chunk of "
                           f"free length and {why}; give its length: --frame {spec.name}=N "
                           f"(frame={{{spec.name!r}: N}} in Python)")


def auto_length(model: onnx.ModelProto, spec: InputSpec, axis: int,
                specs: list[InputSpec]) -> tuple[int, str]:
    """(chunk length, the rule as the report states it); see the module docstring."""
    runs = _Runs(model, spec, axis, specs)
    if not runs.convs:
        raise _no_rule(spec, axis, "no conv runs over it to say how long one step is")
    total = _total_strides(model, runs.convs)
    top = max(total.values())
    deepest = [c.output[0] for c in runs.convs if total[c.output[0]] == top]

    def one_step(length: int) -> bool:
        r = runs(length)
        return r is not None and all(r[c][1] == 1 for c in deepest)

    lo = 16
    while lo <= MAX_LEN and not one_step(lo):
        lo *= 2
    if lo > MAX_LEN:
        raise _no_rule(spec, axis, f"no length runs with one position out of Conv {deepest[0]!r}")
    hi = 2 * lo
    while one_step(hi):
        lo, hi = hi, 2 * hi
        if hi > MAX_LEN:
            raise _no_rule(spec, axis, "every length gives a single step")
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if one_step(mid) else (lo, mid)
    return _exact(runs, one_step, deepest, top, lo, spec, axis)


def _stride(conv: onnx.NodeProto) -> int:
    return int(list(attrs_of(conv).get("strides", [1]))[-1])


def _total_strides(model: onnx.ModelProto, convs: list) -> dict[str, int]:
    """Conv output -> the product of the strides of the convs on its way from the input."""
    reach = {c.output[0]: dynamic_names(model.graph, [c.output[0]]) for c in convs}
    total: dict[str, int] = {}
    for c in convs:
        before = [total[a.output[0]] for a in convs
                  if a.output[0] in total and c.input[0] in reach[a.output[0]]]
        total[c.output[0]] = _stride(c) * max(before, default=1)
    return total


def _exact(runs: _Runs, one_step, deepest: list[str], top: int, longest: int, spec: InputSpec,
           axis: int) -> tuple[int, str]:
    """Shorten ``longest`` so that the first strided conv leaves no sample over."""
    rule = (f"axis {axis} fixed to {{n}} samples: the longest chunk for which the conv(s) of "
            f"the largest total stride ({top}, {deepest[0]!r}"
            f"{' ...' if len(deepest) > 1 else ''}) give one position, i.e. one step per call"
            f"{{extra}}; override with --frame {spec.name}=N")
    first = next((c for c in runs.convs if _stride(c) > 1), None)
    if first is not None:
        a = attrs_of(first)
        n_in = runs(longest)[first.output[0]][0]
        pads = list(a.get("pads", [0, 0]))
        span = list(a.get("dilations", [1]))[-1] * (_kernel(runs, first) - 1) + 1
        spare = (n_in + pads[len(pads) // 2 - 1] + pads[-1] - span) % _stride(first)
        if spare and one_step(longest - spare):
            extra = (f", shortened by {spare} so that Conv {first.output[0]!r} (stride "
                     f"{_stride(first)}) uses every sample")
            return longest - spare, rule.format(n=longest - spare, extra=extra)
    return longest, rule.format(n=longest, extra="")


def _kernel(runs: _Runs, conv: onnx.NodeProto) -> int:
    shape = attrs_of(conv).get("kernel_shape")
    if shape:
        return int(shape[-1])
    for t in runs.model.graph.initializer:
        if t.name == conv.input[1]:
            return int(t.dims[-1])
    raise ConversionError(f"Conv {conv.name!r}: no kernel_shape and no constant W")
