"""Build the TFLite step models of the benchmark from the shared weights.

Runs in a separate TensorFlow venv (TensorFlow is not a dependency of edgernn)::

    python -m venv /tmp/tfvenv && /tmp/tfvenv/bin/pip install tensorflow-cpu
    python benchmarks/bench_step.py --weights-only      # writes benchmarks/weights/*.npz
    /tmp/tfvenv/bin/python benchmarks/make_tflite.py    # -> benchmarks/fixtures/*_step.tflite
    python benchmarks/make_tflite.py --quick   # CI: weights and fixtures fit (TF optional)

Each model is a *stateless step*: Keras cells called on one frame with the
state passed in and out explicitly (signature inputs ``x`` + state, outputs ``y``
+ ``<state>_out``, the same names as the ONNX step models), so the caller feeds
the state back frame by frame.  Weights come from the PyTorch ``state_dict``
saved as ``.npz``: PyTorch LSTM rows i, f, g, o = Keras i, f, c, o; PyTorch GRU
rows r, z, n -> Keras z, r, h (``reset_after=True``); Keras kernels are (I, gates·U).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
# name: (cell, inputs, hidden, layers, out, conv channels, conv kernel) -- as in common.SPECS
MODELS = {
    "lstm": ("lstm", 40, 128, 1, 12, 0, 3),
    "gru": ("gru", 40, 128, 1, 12, 0, 3),
    "lstm2": ("lstm", 40, 64, 2, 12, 0, 3),
    "crnn": ("gru", 40, 64, 1, 12, 64, 3),
}


def gru_rzn_to_zrn(a: np.ndarray) -> np.ndarray:
    r, z, n = np.split(a, 3, axis=0)
    return np.concatenate([z, r, n], axis=0)


def cell_weights(cell: str, w: dict, k: int) -> list[np.ndarray]:
    """Keras cell weights [kernel (I, gU), recurrent_kernel (H, gU), bias] of layer k."""
    wi, wh = w[f"rnn.weight_ih_l{k}"], w[f"rnn.weight_hh_l{k}"]
    bi, bh = w[f"rnn.bias_ih_l{k}"], w[f"rnn.bias_hh_l{k}"]
    if cell == "lstm":  # same gate order; Keras has one bias
        return [wi.T, wh.T, bi + bh]
    wi, wh, bi, bh = (gru_rzn_to_zrn(a) for a in (wi, wh, bi, bh))
    return [wi.T, wh.T, np.stack([bi, bh])]  # reset_after=True: (2, 3H) input, recurrent


def build(name: str, w: dict):
    """The Keras step model and its state names, weights loaded."""
    import keras

    cell_kind, n_in, hidden, layers, n_out, conv, ksize = MODELS[name]
    x = keras.Input(batch_shape=(1, n_in), name="x")
    states = {}
    if conv:
        states["hist"] = keras.Input(batch_shape=(1, ksize - 1, n_in), name="hist")
    for n in ("h", "c") if cell_kind == "lstm" else ("h",):
        states[n] = [keras.Input(batch_shape=(1, hidden), name=f"{n}{k}") for k in range(layers)]
    outs, setters = {}, []
    h = x
    if conv:
        frame = keras.layers.Reshape((1, n_in))(x)
        window = keras.layers.Concatenate(axis=1)([states["hist"], frame])
        outs["hist_out"] = window[:, 1:]
        conv_layer = keras.layers.Conv1D(conv, ksize, activation="relu")
        h = keras.layers.Reshape((conv,))(conv_layer(window))
        setters.append((conv_layer, [w["conv.weight"].transpose(2, 1, 0), w["conv.bias"]]))
    new = {n: [] for n in states if n != "hist"}
    for k in range(layers):
        if cell_kind == "lstm":
            cell = keras.layers.LSTMCell(hidden)
            h, (hk, ck) = cell(h, [states["h"][k], states["c"][k]])
            new["h"].append(hk)
            new["c"].append(ck)
        else:
            cell = keras.layers.GRUCell(hidden, reset_after=True)
            h, hk = cell(h, states["h"][k])
            new["h"].append(hk[0] if isinstance(hk, (list, tuple)) else hk)
        setters.append((cell, cell_weights(cell_kind, w, k)))
    fc = keras.layers.Dense(n_out)
    outs["y"] = fc(h)
    setters.append((fc, [w["fc.weight"].T, w["fc.bias"]]))
    for n, per_layer in new.items():
        outs[f"{n}_out"] = per_layer
    inputs = {"x": x, **states}
    model = keras.Model(inputs, outs)
    for layer, weights in setters:
        layer.set_weights([np.ascontiguousarray(a, dtype=np.float32) for a in weights])
    return model


def convert(name: str, model) -> bytes:
    """TFLite flatbuffer whose signature takes x, state (stacked per layer like ONNX)."""
    import tensorflow as tf

    layers = MODELS[name][3]
    shapes = state_shapes(name)
    names = list(shapes)[1:]
    spec = [tf.TensorSpec(shape, tf.float32, name=n) for n, shape in shapes.items()]

    def step(x, *state):
        feeds = {"x": x}
        for n, s in zip(names, state, strict=True):
            feeds[n] = s if n == "hist" else [s[k] for k in range(layers)]
        out = model(feeds)
        res = {"y": out["y"]}
        for n in names:
            v = out[f"{n}_out"]
            res[f"{n}_out"] = v if n == "hist" else tf.stack(v)
        return res

    import tempfile

    import keras

    with tempfile.TemporaryDirectory() as tmp:  # SavedModel route: variables become constants
        archive = keras.export.ExportArchive()
        archive.track(model)
        archive.add_endpoint("serving_default", step, input_signature=spec)
        archive.write_out(tmp, verbose=False)
        return tf.lite.TFLiteConverter.from_saved_model(tmp).convert()


def check(name: str, flat: bytes, model) -> float:
    """Max |TFLite - Keras| over 20 random frames with state fed back."""
    import tensorflow as tf

    interp = tf.lite.Interpreter(model_content=flat)
    run = interp.get_signature_runner()
    rng = np.random.default_rng(0)
    details = run.get_input_details()
    state = {k: np.zeros(d["shape"], np.float32) for k, d in details.items() if k != "x"}
    n_in = MODELS[name][1]
    err = 0.0
    for _ in range(20):
        x = rng.standard_normal((1, n_in)).astype(np.float32)
        out = run(x=x, **state)
        feeds = {"x": x}
        for k, v in state.items():
            feeds[k] = v if k == "hist" else [v[i] for i in range(v.shape[0])]
        ref = model(feeds)
        err = max(err, float(np.abs(out["y"] - np.asarray(ref["y"])).max()))
        state = {k: out[f"{k}_out"] for k in state}
    return err


def state_shapes(name: str) -> dict[str, tuple[int, ...]]:
    """Signature inputs of the step model :func:`convert` makes: x and the state."""
    cell_kind, n_in, hidden, layers, _, conv, ksize = MODELS[name]
    names = (["hist"] if conv else []) + (["h", "c"] if cell_kind == "lstm" else ["h"])
    shapes = {"x": (1, n_in), "hist": (1, ksize - 1, n_in),
              "h": (layers, 1, hidden), "c": (layers, 1, hidden)}
    return {n: shapes[n] for n in ["x", *names]}


def quick() -> int:
    """``--quick`` (CI, no TensorFlow needed): every weight file feeds :func:`cell_weights`
    in the shapes Keras takes, and every committed fixture has the signature
    :func:`convert` gives (checked with the TFLite interpreter when one imports).  With
    TensorFlow it also builds, converts and checks the first model, writing nothing."""
    for name, (cell_kind, n_in, hidden, layers, n_out, conv, _) in MODELS.items():
        with np.load(HERE / "weights" / f"{name}.npz") as z:
            w = {k: z[k] for k in z.files}
        gates = 4 if cell_kind == "lstm" else 3
        for k in range(layers):
            kern, rec, bias = cell_weights(cell_kind, w, k)
            rnn_in = (conv or n_in) if k == 0 else hidden
            assert kern.shape == (rnn_in, gates * hidden), (name, kern.shape)
            assert rec.shape == (hidden, gates * hidden), (name, rec.shape)
            assert bias.shape[-1] == gates * hidden, (name, bias.shape)
        assert w["fc.weight"].shape == (n_out, hidden), name
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError:
            print(f"{name}: weights fit; no TFLite interpreter to check the fixture")
            continue
        runner = Interpreter(model_path=str(HERE / "fixtures" / f"{name}_step.tflite"))
        got = {k: tuple(map(int, d["shape"])) for k, d in
               runner.get_signature_runner().get_input_details().items()}
        assert got == state_shapes(name), (name, got, state_shapes(name))
        print(f"{name}: weights fit; fixture inputs {got}")
    try:
        import tensorflow  # noqa: F401
    except ImportError:
        print("TensorFlow is not installed: building and converting skipped")
        return 0
    name = next(iter(MODELS))
    with np.load(HERE / "weights" / f"{name}.npz") as z:
        model = build(name, {k: z[k] for k in z.files})
    err = check(name, convert(name, model), model)
    print(f"{name}: |tflite - keras| {err:.1e} (not written)")
    return 0 if err <= 1e-5 else 1


def main(argv: list[str]) -> int:
    if "--quick" in argv:
        return quick()
    out_dir = HERE / "fixtures"
    out_dir.mkdir(exist_ok=True)
    for name in argv or list(MODELS):
        path = HERE / "weights" / f"{name}.npz"
        if not path.exists():
            print(f"{path} missing: run `python benchmarks/bench_step.py --weights-only` first")
            return 1
        with np.load(path) as z:
            w = {k: z[k] for k in z.files}
        model = build(name, w)
        flat = convert(name, model)
        err = check(name, flat, model)
        if err > 1e-5:
            print(f"{name}: TFLite differs from Keras by {err:.2e}")
            return 1
        dst = out_dir / f"{name}_step.tflite"
        dst.write_bytes(flat)
        print(f"{dst.relative_to(HERE.parent)}: {len(flat)} bytes, |tflite - keras| {err:.1e}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
