"""Converted vs source: run the source model and edgernn side by side, report max abs error.

The source runs once on the whole sequence (batch 1), or - for step models with
state inputs and models without a time axis - once per frame with its state
outputs fed back (zeros first).  edgernn runs the same frames streamed three
ways: ``run()`` on all of them, ``step()`` one frame at a time, and ``run()`` on
random chunks.  Per-step outputs are compared frame by frame (a stream emits a
prefix of the source's frames when a strided or padded conv is involved);
last-step outputs are compared at several prefixes (the source rerun on
frames 1..t).

This core knows no source format: each format's ``runner`` (:mod:`.formats`)
gives a :class:`Runner` that runs the source model on source-layout arrays
(ONNX: :mod:`.onnx.runner`).  The graph's format-neutral metadata
(``source_inputs``/``source_outputs``/``source_states``, see :mod:`.report`)
says where the time and batch axes are.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from edgernn.ir import Graph

from .errors import VerificationError


@dataclass
class VerifyResult:
    """Max abs error per output over every streaming mode, and what it was compared with."""

    errors: dict[str, float]
    reference: str
    frames: int
    tolerance: float
    modes: tuple[str, ...] = ()
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(e <= self.tolerance for e in self.errors.values())

    @property
    def max_error(self) -> float:
        return max(self.errors.values(), default=0.0)

    def __str__(self) -> str:
        lines = [f"verified against {self.reference} on {self.frames} frames "
                 f"({', '.join(self.modes)}), tolerance {self.tolerance:g}:"]
        for k, e in self.errors.items():
            lines.append(f"  {k}: max abs error {e:.3g} {'ok' if e <= self.tolerance else 'FAIL'}")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


class Runner(Protocol):
    """The source model, runnable on source-layout arrays (batch 1)."""

    reference: str  # what it runs on, for the report ("onnxruntime")

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Every output of the source model for ``feeds`` (one array per input)."""

    def free_time(self, time_axes: dict[str, int], frames: int) -> Runner | None:
        """The same model with its fixed sequence length made free (``time_axes``: input ->
        its time axis), if it then runs on ``frames`` frames; else None."""


class WithConsts:
    """The source model with its configuration inputs fed the values fixed at conversion."""

    def __init__(self, source: Runner, consts: dict) -> None:
        self.source, self.reference = source, source.reference
        self.feeds = {k: np.full(v["shape"], v["value"], dtype=v["dtype"])
                      for k, v in consts.items()}

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return self.source.run({**self.feeds, **feeds})

    def free_time(self, time_axes: dict[str, int], frames: int) -> Runner | None:
        free = self.source.free_time(time_axes, frames)
        return None if free is None else WithConsts(free, {})._with(self.feeds)

    def _with(self, feeds: dict) -> WithConsts:
        self.feeds = feeds
        return self


def to_source(frames: np.ndarray, time: int | None, batch: int | None, rank: int) -> np.ndarray:
    """Frames ``(T, *frame)`` (or one frame if ``time`` is None) -> ONNX layout, batch 1."""
    a = (frames if time is not None else frames[None])[:, None]  # (T, 1, *frame)
    perm, k = [], 0
    for i in range(rank):
        if i == time:
            perm.append(0)
        elif i == batch:
            perm.append(1)
        else:
            perm.append(2 + k)
            k += 1
    missing = [ax for ax in (0, 1) if ax not in perm]  # size-1 axes the source lacks
    a = np.transpose(a, missing + perm)
    return np.ascontiguousarray(a.reshape(a.shape[len(missing):]))


def from_source(y: np.ndarray, time: int | None, batch: int | None) -> np.ndarray:
    """ONNX output (batch 1) -> ``(T, *frame)``, or one frame if it has no time axis."""
    axes = [a for a in (time, batch) if a is not None]
    rest = [i for i in range(y.ndim) if i not in axes]
    y = np.transpose(y, ([time] if time is not None else []) + ([batch] if batch is not None
                                                                 else []) + rest)
    if batch is not None:
        y = y[:, 0] if time is not None else y[0]
    return y


def verify(src, graph: Graph | None = None, *, frames: int = 200, tolerance: float = 1e-4,
           seed: int = 0, inputs: dict[str, np.ndarray] | None = None,
           raise_on_fail: bool = False, **import_kw) -> VerifyResult:
    """Compare ``graph`` (imported from ``src`` if not given) with the source model.

    ``inputs``: source-layout arrays (batch 1) instead of ``frames`` random frames.
    """
    from .formats import FORMATS

    fmt = FORMATS.find(src)
    if graph is None:
        graph = fmt.load(src, **import_kw)
    res = compare(fmt.runner(src), graph, frames=frames, tolerance=tolerance, seed=seed,
                  inputs=inputs)
    if raise_on_fail and not res.passed:
        raise VerificationError(str(res))
    return res


def compare(source: Runner, graph, *, frames: int = 200, tolerance: float = 1e-4,
            seed: int = 0, inputs: dict[str, np.ndarray] | None = None) -> VerifyResult:
    """``graph`` (a Graph or a Model) streamed three ways vs ``source``, per output."""
    import edgernn
    from edgernn.model import Model

    meta = graph.metadata
    rng = np.random.default_rng(seed)
    if meta.get("source_consts"):
        source = WithConsts(source, meta["source_consts"])
    source, frames, chunk, stepwise = _plan(source, meta, frames)
    ins = meta["source_inputs"]
    if inputs is not None:
        dtypes = {v.name: _np_dtype(v) for v in graph.inputs}
        feeds = {k: from_source(np.asarray(v, dtypes.get(k, np.float32)), ins[k]["time"],
                                ins[k]["batch"]) for k, v in inputs.items()}
        frames = len(next(iter(feeds.values())))
    else:
        feeds = {v.name: _random_frames(rng, v, frames) for v in graph.inputs}
    ref = source_outputs(source, meta, feeds, frames, chunk if stepwise else 0)
    res = VerifyResult({}, source.reference, frames, tolerance,
                       ("run", "step", "random chunks"))
    m = edgernn.Model(graph) if not isinstance(graph, Model) else graph
    streamed = _stream_all(m, feeds, frames, rng)
    for name, out in meta["source_outputs"].items():
        if out["time"] is not None or stepwise:
            res.errors[name] = _compare_frames(name, {k: v[out["value"]] for k, v in
                                                      streamed.items()}, ref[name])
        else:
            res.errors[name] = _check_prefixes(source, streamed["step"][out["value"]], feeds,
                                               ins, name, out, frames)
    return res


def _np_dtype(value) -> np.dtype:
    from edgernn.bindings import BUFFER_DTYPES

    return np.dtype(BUFFER_DTYPES[value.dtype])


def _random_frames(rng, value, frames: int) -> np.ndarray:
    """Random frames for an input: N(0, 1) for float, every code of an integer one."""
    dtype = _np_dtype(value)
    if dtype.kind == "f":
        return rng.standard_normal((frames, *value.shape)).astype(np.float32)
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max + 1, (frames, *value.shape)).astype(dtype)


def _plan(source: Runner, meta: dict, frames: int):
    """(source, frames, source chunk length, stepwise?) for this model's inputs."""
    ins = meta["source_inputs"]
    fixed = [s["dims"][s["time"]] for s in ins.values()
             if s["time"] is not None and isinstance(s["dims"][s["time"]], int)
             and s["dims"][s["time"]] > 0]
    stepwise = bool(meta["source_states"]) or all(s["time"] is None for s in ins.values())
    if fixed and stepwise:
        return source, max(frames // fixed[0], 1) * fixed[0], fixed[0], True
    if fixed:
        free = source.free_time({k: s["time"] for k, s in ins.items() if s["time"] is not None},
                                frames)
        if free is None:  # the graph bakes its length in: compare on that length only
            return source, min(frames, fixed_len(ins)), 1, False
        return free, frames, 1, False
    return source, frames, 1, stepwise


def source_outputs(source: Runner, meta: dict, feeds: dict[str, np.ndarray], frames: int,
                   chunk: int = 0) -> dict[str, np.ndarray]:
    """The source's outputs as ``(T', *frame)`` for frames ``(T, *frame)`` per input.

    ``chunk=0`` runs the whole sequence at once; ``chunk=n`` runs ``n`` frames per
    call with the state outputs fed back (step models).
    """
    if chunk:
        return _reference_stepwise(source, meta, feeds, frames, chunk)
    ins, outs = meta["source_inputs"], meta["source_outputs"]
    return {k: from_source(v, outs[k]["time"], outs[k]["batch"])
            for k, v in source.run(_source_feeds(feeds, ins, frames)).items() if k in outs}


def _compare_frames(name: str, streamed: dict[str, np.ndarray], ref: np.ndarray) -> float:
    """Max abs error of every streaming mode's frames vs the source's first frames."""
    err = 0.0
    for mode, got in streamed.items():
        if len(got) > len(ref) or len(got) == 0:
            raise VerificationError(f"output {name!r} ({mode}): edgernn emitted {len(got)} "
                                    f"frames, the source {len(ref)}")
        diff = got.astype(np.float64) - ref[:len(got)].astype(np.float64)  # integer outputs
        err = max(err, float(np.max(np.abs(diff))))
    return err


def fixed_len(ins: dict) -> int:
    return min(s["dims"][s["time"]] for s in ins.values() if s["time"] is not None)


def _source_feeds(feeds, ins, n) -> dict[str, np.ndarray]:
    return {k: to_source(v[:n], ins[k]["time"], ins[k]["batch"], len(ins[k]["dims"]))
            for k, v in feeds.items()}


def _stream_all(m, feeds, frames, rng) -> dict[str, dict[str, np.ndarray]]:
    """Outputs of run(all), step() per frame and run(random chunks): {mode: {value: (n, ...)}}."""
    names = list(m.graph.outputs)

    def as_dict(y):
        return y if isinstance(y, dict) else {names[0]: y}

    out = {"run": as_dict(m.stream().run(feeds))}
    s, steps = m.stream(), {k: [] for k in names}
    single = len(feeds) == 1
    for t in range(frames):
        # one input: a plain float32 array, the way users step (the stream's fast path)
        y = s.step(next(iter(feeds.values()))[t] if single else {k: v[t] for k, v in feeds.items()})
        if y is not None:
            for k, v in as_dict(y).items():
                steps[k].append(v)
    out["step"] = {k: np.stack(v) if v else np.zeros((0,)) for k, v in steps.items()}
    s, parts, t = m.stream(), {k: [] for k in names}, 0
    while t < frames:
        n = int(rng.integers(1, 40))
        y = as_dict(s.run({k: v[t:t + n] for k, v in feeds.items()}))
        for k in names:
            parts[k].append(y[k])
        t += n
    out["random chunks"] = {k: np.concatenate(v) for k, v in parts.items()}
    return out


def _check_prefixes(source, got, feeds, ins, name, out, frames) -> float:
    """Last-step outputs: emitted output k (at input frame delay + k*stride) equals the
    source's last output on the frames up to there."""
    if len(got) == 0:
        raise VerificationError(f"output {name!r}: edgernn emitted nothing in {frames} frames")
    err = 0.0
    for k in sorted({0, len(got) // 7, len(got) // 2, len(got) - 2, len(got) - 1}):
        t = out["delay"] + k * out["stride"] + 1
        if k < 0 or t > frames:
            continue
        try:
            y = source.run(_source_feeds(feeds, ins, t))[name]
        except Exception:  # noqa: BLE001 - a source with a baked-in length runs only on it
            if t == frames:
                raise
            continue
        y = from_source(y, out["time"], out["batch"])
        err = max(err, float(np.max(np.abs(got[k].astype(np.float64) - y))))
    return err


def _reference_stepwise(source, meta, feeds, frames, chunk) -> dict[str, np.ndarray]:
    """Run the source one frame per call (chunk = fixed length or 1), feeding states back."""
    ins = meta["source_inputs"]
    states = {}
    for name, st in meta["source_states"].items():
        dims = [1 if not isinstance(d, int) or d <= 0 else d for d in st["dims"]]
        states[name] = (np.zeros(dims, np.float32), st["output"])
    outs = {k: [] for k in meta["source_outputs"]}
    for t in range(0, frames - chunk + 1, chunk):
        f = {}
        for k, v in feeds.items():
            sl = v[t:t + chunk] if ins[k]["time"] is not None else v[t]
            f[k] = to_source(sl, ins[k]["time"], ins[k]["batch"], len(ins[k]["dims"]))
        f.update({k: s[0] for k, s in states.items()})
        res = source.run(f)
        for k, (_, o) in list(states.items()):
            states[k] = (res[o].astype(np.float32), o)
        for k, o in meta["source_outputs"].items():
            y = from_source(res[k], o["time"], o["batch"])
            outs[k].append(y if o["time"] is not None else y[None])
    return {k: np.concatenate(v) for k, v in outs.items()}
