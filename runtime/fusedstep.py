"""One jitted call per step: a driver generated per program that runs every op of a frame.

A :class:`~edgernn.plan.Program` calls one bound kernel per op; each call costs
numba's dispatch (unboxing every argument, ~0.03 µs each, 0.2-0.8 µs per op).
Here the bound calls' descriptions (``call.parts(1)``, see :mod:`edgernn.bindings`)
become the source of one jitted function, ``run_ops(p)``, that calls every kernel
in order.  The arrays are not arguments: their address, shape and strides sit in an
int64 table ``p`` (with the scalars), read back inside by
:func:`edgernn.kernels.views.invoke`.  A step costs one dispatch; ``step(p, frame,
out)`` adds the checked input copy and the output copy to the same call.

The kernels are not compiled into the driver: each is compiled (or loaded from the
cache) on its own for the exact argument types, as the per-op path does, and called
through its native entry, whose address is also in ``p``.  Linking them in would
make numba optimize and emit all of their code again for every new model
structure; this way a new structure costs only its small driver, once.  The source
depends on the argument kinds (dtypes, ranks, layouts), return types and the op
order, not on sizes, addresses or which kernels run; it is written to
``<cache>/fused/step_<hash>.py`` and cached by numba like any kernel.

A program with a call that has no description (a binder's own closure) keeps its
per-op calls: :func:`fuse` returns None.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
from functools import cache
from pathlib import Path

import numpy as np

from .bindings import direct

_DTYPES = {np.dtype(t) for t in (np.float32, np.float64, np.int8, np.uint8, np.int16,
                                 np.uint16, np.int32, np.int64)}


class NotFusable(Exception):
    """A program the fused step cannot describe (it keeps per-op calls)."""


class Tables:
    """The int64 table ``p`` and the spec strings into it."""

    def __init__(self, direct: bool = False) -> None:
        self.p: list[int] = []
        self.keep: list = []  # arrays and compiled code the addresses point into
        self._arrays: dict[tuple, str] = {}
        self.addresses: list[int] = []  # the slots of p that hold array addresses
        #: direct calls (ahead-of-time builds, :mod:`edgernn.aotbuild`): (module, name) ->
        #: the alias the generated module imports a kernel under; None: native entries
        self.imports: dict[tuple[str, str], str] | None = {} if direct else None

    def array(self, a: np.ndarray) -> str:
        if a.dtype not in _DTYPES:
            raise NotFusable(f"array of dtype {a.dtype}")
        key = (a.__array_interface__["data"][0], a.shape, a.strides, a.dtype.str)
        spec = self._arrays.get(key)
        if spec is None:
            layout = "C" if a.flags.c_contiguous else "A"
            spec = self._arrays[key] = f"A{len(self.p)}.{a.dtype.name}.{layout}.{a.ndim}"
            self.addresses.append(len(self.p))
            self.p += [key[0], *a.shape, *a.strides]
            self.keep.append(a)
        return spec

    def arg(self, v) -> str:
        """The spec of one kernel argument (see :mod:`edgernn.kernels.views`)."""
        if isinstance(v, np.ndarray):
            return self.array(v)
        if isinstance(v, tuple):
            return "(" + ",".join(self.arg(e) for e in v) + ")"
        if isinstance(v, (bool, np.bool_)):
            self.p.append(int(v))
            return f"B{len(self.p) - 1}"
        if isinstance(v, (int, np.integer)):
            self.p.append(int(v))
            return f"I{len(self.p) - 1}.{'int64' if isinstance(v, int) else type(v).__name__}"
        if isinstance(v, (float, np.floating)):
            self.p.append(int(np.float64(v).view(np.int64)))
            return f"F{len(self.p) - 1}.{'float64' if isinstance(v, float) else type(v).__name__}"
        raise NotFusable(f"argument of type {type(v).__name__}")

    def call(self, kernel, args: tuple) -> str:
        """``invoke(...)`` source of one call of ``kernel``'s compiled entry (or, for a
        direct table, a plain call of the imported kernel)."""
        from numba.core import types

        from .kernels.views import parse

        if self.imports is not None:
            return self._direct(kernel, args)
        if not hasattr(kernel, "overloads"):
            raise NotFusable(f"{kernel!r} is not a jitted function")
        specs = [self.arg(a) for a in args]
        sig = tuple(parse(s)[0] for s in specs)
        kernel.compile(sig)  # from the cache, or compiled once as for a per-op call
        cres = kernel.overloads[sig]
        ret = cres.signature.return_type
        if ret is types.none or ret is types.boolean:
            rname = str(ret)
        elif isinstance(ret, (types.Integer, types.Float)):
            rname = ret.name
        else:
            raise NotFusable(f"{kernel!r} returns {ret}")
        self.p.append(cres.library.get_pointer_to_function(cres.fndesc.llvm_func_name))
        self.keep.append(cres)
        return f'invoke(p, "{len(self.p) - 1};{rname};{",".join(specs)}")'


    def _direct(self, kernel, args: tuple) -> str:
        fn = getattr(kernel, "py_func", None)
        mod = sys.modules.get(getattr(fn, "__module__", ""))
        if fn is None or getattr(mod, fn.__name__, None) is not kernel:
            raise NotFusable(f"{kernel!r} is not a module-level jitted function")
        alias = self.imports.setdefault((fn.__module__, fn.__name__), f"k{len(self.imports)}")
        return f"{alias}({', '.join(_expr(self.arg(a)) for a in args)})"


def _expr(spec: str) -> str:
    """Source of the value an argument spec describes (for direct calls)."""
    from .kernels.views import _split

    kind = spec[0]
    if kind == "(":
        return "(" + "".join(_expr(e) + ", " for e in _split(spec[1:-1])) + ")"
    if kind == "A":
        return f'table_view(p, "{spec}")'
    if kind == "B":
        return f"(p[{spec[1:]}] != 0)"
    slot, dtype = spec[1:].split(".")
    return f"np.{dtype}(p[{slot}])" if kind == "I" else f"np.{dtype}(float_at(p, {slot}))"


def _ops(prog, t: Tables) -> tuple[list[str], str]:
    """Body lines of ``run_ops`` and the count variable of the first output."""
    g = prog.plan.graph
    counts = dict.fromkeys([*prog.inputs, *(s.input for s in g.states)], "n")
    io = []
    for st, buf, out in prog.state_io:
        if not (buf.flags.c_contiguous and out[0].flags.c_contiguous):
            raise NotFusable("a state buffer is not contiguous")
        io.append(tuple(t.array(a.reshape(-1)) for a in (st, buf, out[0])))
    body = [f'    copy_flat(table_view(p, "{st}"), table_view(p, "{buf}"))' for st, buf, _ in io]
    for i, (call, src, dst) in enumerate(prog.calls):
        parts = getattr(call, "parts", None)
        if parts is None:
            raise NotFusable(f"op {g.ops[i].name!r} has no description")
        pad = "    " if prog.uniform else "        "
        lines = [f"{pad}{t.call(k, a)}" for k, a in parts(1)]  # every count is 0 or 1
        if call.counted:
            lines[-1] = f"{pad}c{i} = {lines[-1].strip()}"
        else:
            lines.append(f"{pad}c{i} = {counts[src]}")
        body += lines if prog.uniform else [f"    c{i} = 0", f"    if {counts[src]} > 0:",
                                            *lines]
        counts[dst] = f"c{i}"
    body += [f'    copy_flat(table_view(p, "{o}"), table_view(p, "{st}"))' for st, _, o in io]
    return body, counts.get(g.outputs[0], "n") if g.outputs else "n"


def functions(prog, t: Tables, decorator: str = "@kernel") -> list[str]:
    """Source lines of ``run_ops(p)`` and ``step(p, frame, out)`` for ``prog`` (raises
    NotFusable)."""
    body, out_count = _ops(prog, t)
    frame, y = t.array(_flat_input(prog)), t.array(_first_output(prog))
    return [decorator, "def run_ops(p):", "    n = 1", *body, f"    return {out_count}",
            "", "", decorator, "def step(p, frame, out):",
            f'    if not load_frame(frame, table_view(p, "{frame}")):', "        return -1",
            "    n = run_ops(p)", "    if n > 0:",
            f'        copy_flat(table_view(p, "{y}"), out)', "    return n", ""]


def generate(prog) -> tuple[str, Tables] | None:
    """(source, tables) of the fused step of a one-frame ``prog``, or None."""
    t = Tables()
    try:
        lines = functions(prog, t)
    except NotFusable:
        return None
    frame, y = t.array(_flat_input(prog)), t.array(_first_output(prog))
    src = "\n".join([
        '"""Generated by edgernn.fusedstep: one frame of a program. Do not edit."""',
        "from numba import carray",
        "",
        "from edgernn.kernels import kernel",
        "from edgernn.kernels.views import copy_flat, float_at, invoke, load_frame, table_view",
        "", "", *lines, "",
        "def step_c(pp, fp, op):",
        '    """step() on raw pointers: what edgernn.cstep compiles as a cfunc."""',
        f"    p = carray(pp, ({len(t.p)},))",
        f'    return step(p, carray(fp, table_view(p, "{frame}").shape), '
        f'carray(op, table_view(p, "{y}").shape))', ""])
    return src, t


def _flat_input(prog) -> np.ndarray:
    """The only input's frame-0 buffer, flat (where ``step`` loads the frame)."""
    if len(prog.inputs) != 1:
        return np.zeros(0, np.float32)
    return next(iter(prog.inputs.values()))[0].reshape(-1)


def _first_output(prog) -> np.ndarray:
    g = prog.plan.graph
    y = prog.output(g.outputs[0], 1)[0] if g.outputs else np.zeros(0, np.float32)
    return y.reshape(-1) if y.flags.c_contiguous else np.zeros(0, y.dtype)


@cache
def _views_hash() -> str:
    """Hash of what the driver compiles in (views.py) and the version."""
    from . import __version__
    from .kernels import views

    return hashlib.sha256(__version__.encode() + Path(views.__file__).read_bytes()
                          ).hexdigest()[:16]


def _module(src: str):
    """Write ``src`` under the cache directory (once) and import it."""
    from .kernels import CACHE_DIR

    digest = hashlib.sha256((src + _views_hash()).encode()).hexdigest()[:20]
    name = f"edgernn._fused_{digest}"  # an edgernn module: the cold-cache notice counts it
    if name in sys.modules:
        return sys.modules[name]
    folder = Path(CACHE_DIR) / "fused"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"step_{digest}.py"
    if not path.exists() or path.read_text() != src:
        tmp = folder / f".{path.name}.{os.getpid()}"
        tmp.write_text(src)
        os.replace(tmp, path)  # atomic: another process may be importing it
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    sys.modules[name] = mod
    return mod


class FusedStep:
    """The fused step of one program: :meth:`run` the ops, or :meth:`step` a frame."""

    def __init__(self, src: str, tables: Tables) -> None:
        self.source = src
        self.p = np.array(tables.p, np.int64)
        self._keep = tables.keep
        mod = _module(src)
        self.dispatchers = (mod.run_ops, mod.step)
        self._run, self._step = direct(mod.run_ops), direct(mod.step)
        self._mod = mod

    def run(self) -> int:
        """Run every op on the frame in the input buffers; return the output count (0/1)."""
        return self._run(self.p)

    def entry(self, frame_ndim: int, out: np.ndarray):
        """The compiled entry of :meth:`step` for float32 frames of ``frame_ndim`` axes,
        any strides, and outputs like ``out``: called directly, it skips numba's type
        dispatch.  It unboxes arrays without checking their rank or layout, so the caller
        checks the frame's shape; another dtype raises TypeError before anything runs."""
        from numba import typeof, types

        sig = (typeof(self.p), types.Array(types.float32, frame_ndim, "A"), typeof(out))
        return self.dispatchers[1].compile(sig)

    def c_address(self, out_dtype: np.dtype) -> int:
        """Address of :meth:`step` as a C function ``int64(int64 *p, float *frame,
        out_dtype *out)`` (a numba cfunc, compiled or loaded from the cache on first
        use) for :mod:`edgernn.cstep`: float32 frames, outputs of ``out_dtype``.  One
        cfunc per generated module and dtype serves every stream of that structure
        (loading it from the cache takes ~5 ms)."""
        cfuncs = self._mod.__dict__.setdefault("_cfuncs", {})
        key = np.dtype(out_dtype).str
        if key not in cfuncs:
            from numba import cfunc, from_dtype, types

            sig = types.int64(types.CPointer(types.int64), types.CPointer(types.float32),
                              types.CPointer(from_dtype(np.dtype(out_dtype))))
            cfuncs[key] = cfunc(sig, cache=True)(self._mod.step_c)
        return cfuncs[key].address

    def step(self, frame: np.ndarray, out: np.ndarray) -> int:
        """Load ``frame`` (float32/64, any strides) checked, run, copy the first output into
        ``out`` (C-contiguous, its dtype); return the count, -1 for NaN/Inf (nothing ran)."""
        return self._step(self.p, frame, out)


def fuse(prog) -> FusedStep | None:
    """The fused step of ``prog`` (a one-frame program), or None if it cannot be described."""
    gen = generate(prog)
    return None if gen is None else FusedStep(*gen)
