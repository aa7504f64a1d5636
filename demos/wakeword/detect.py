"""microWakeWord, run by edgernn on a WAV file: front end, model and detector.

    python demos/wakeword/detect.py speech.wav            # any WAV: resampled to 16 kHz mono
    python demos/wakeword/detect.py                       # says the wake word with espeak-ng
    python demos/wakeword/detect.py --model alexa --check

The models come unmodified from the ``pymicro-wakeword`` wheel (fetched once with
``pip download --no-deps`` into ``.cache/model_wheels``); edgernn converts the
``.tflite`` (int8 in, uint8 out, six resource variables as stream state).  The features
are edgernn's own TFLM micro front end (``edgernn.features``, ``"type": "micro"``): the
same 40 log filterbank channels per 10 ms as ``pymicro-features``, bit for bit.  As
pymicro-wakeword does: 3 feature frames per model step (30 ms), quantized with the
input's scale and zero point (clipped to int8 here), the uint8 output dequantized, the
mean of the last 5 probabilities compared with the model's cutoff.

``--check`` runs the same frames through the TFLite interpreter too (and
pymicro-features, when installed) and reports whether everything is equal.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections import deque
from pathlib import Path

import numpy as np

import edgernn
from edgernn import features
from edgernn.sources import WavFile

ROOT = Path(__file__).resolve().parents[2]
WHEEL = "pymicro-wakeword==2.5.0"
PHRASES = {"okay_nabu": "Okay Nabu", "alexa": "Alexa", "hey_jarvis": "Hey Jarvis",
           "hey_mycroft": "Hey Mycroft"}


def model_files(name: str, cache: Path) -> tuple[bytes, dict]:
    """(.tflite bytes, JSON config) of a pymicro-wakeword model, from its wheel."""
    cache.mkdir(parents=True, exist_ok=True)
    if not list(cache.glob("pymicro_wakeword-*.whl")):
        print(f"fetching {WHEEL} (pip download --no-deps) into {cache}")
        r = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps",
                            "--dest", str(cache), WHEEL], capture_output=True, text=True)
        if r.returncode:
            sys.exit(f"cannot download {WHEEL}: {r.stderr.strip()[-300:]}")
    with zipfile.ZipFile(next(cache.glob("pymicro_wakeword-*.whl"))) as z:
        return (z.read(f"pymicro_wakeword/models/{name}.tflite"),
                json.loads(z.read(f"pymicro_wakeword/models/{name}.json")))


def say(phrase: str, out: Path) -> Path:
    """1 s of quiet noise, the phrase (espeak-ng), 1 s of noise, as a 16 kHz WAV."""
    if shutil.which("espeak-ng") is None:
        sys.exit("no WAV given and espeak-ng is missing: pass a WAV file, or "
                 "sudo apt-get install espeak-ng")
    raw = out.with_suffix(".espeak.wav")
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "130", "-w", str(raw), phrase],
                   check=True, capture_output=True)
    with WavFile(raw, rate=16000, mono=True) as src:
        speech = np.concatenate([b.data[:, 0] for b in src])
    rng = np.random.default_rng(0)
    x = np.concatenate([np.zeros(16000), speech * 0.8, np.zeros(16000)])
    x = np.clip(x + rng.normal(0, 0.003, x.size), -1, 1)
    write_wav(out, (x * 32767).astype("<i2"))
    return out


def write_wav(path: Path, pcm: np.ndarray, rate: int = 16000) -> None:
    import wave

    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())


class Detector:
    """Front end -> int8 steps of 3 frames -> model -> mean of the last probabilities."""

    def __init__(self, graph, config: dict) -> None:
        self.model = edgernn.Model(graph)
        self.stream = self.model.stream()
        self.fe = features.from_spec({"type": "micro"})
        x, y = graph.inputs[0], graph.values[graph.outputs[0]]
        self.in_q, self.out_q = (x.scale, x.zero_point), (y.scale, y.zero_point)
        micro = config["micro"]
        self.cutoff = float(micro["probability_cutoff"])
        self.probs: deque = deque(maxlen=int(micro["sliding_window_size"]))
        self.pending = np.zeros((0, 40), np.float32)
        self.inputs, self.scores, self.step_us = [], [], []

    def quantize(self, frames: np.ndarray) -> np.ndarray:
        s, z = self.in_q
        return np.clip(np.round(frames / np.float32(s) + z), -128, 127).astype(np.int8)

    def push(self, samples: np.ndarray) -> list[float]:
        """Feed samples; return the smoothed probability of every model step they finish."""
        self.pending = np.concatenate([self.pending, self.fe.process(samples)])
        out = []
        while len(self.pending) >= 3:
            x = self.quantize(self.pending[:3])
            self.pending = self.pending[3:]
            t0 = time.perf_counter()
            y = self.stream.step(x)
            self.step_us.append((time.perf_counter() - t0) * 1e6)
            p = (float(y[0]) - self.out_q[1]) * self.out_q[0]
            self.inputs.append(x)
            self.scores.append(p)
            self.probs.append(p)
            full = len(self.probs) == self.probs.maxlen
            out.append(float(np.mean(self.probs)) if full else 0.0)
        return out


def run(path: Path, det: Detector) -> list[tuple[float, float]]:
    """Stream the WAV through the detector; (time s, smoothed probability) per step."""
    out, t = [], 0.0
    with WavFile(path, rate=16000, mono=True) as src:
        for block in src:
            for p in det.push(block.data[:, 0]):
                t += 0.03
                out.append((t, p))
    return out


def check(data: bytes, det: Detector, path: Path) -> None:
    """The same int8 frames through the TFLite interpreter; features vs pymicro-features."""
    from edgernn.converters.tflite.runner import interpreter_class

    cls, resolvers, pkg = interpreter_class()
    it = cls(model_content=data, experimental_op_resolver_type=resolvers.BUILTIN_REF)
    it.allocate_tensors()
    i, o = it.get_input_details()[0]["index"], it.get_output_details()[0]["index"]
    ref = []
    for x in det.inputs:
        it.set_tensor(i, x[None])
        it.invoke()
        ref.append((float(it.get_tensor(o)[0, 0]) - det.out_q[1]) * det.out_q[0])
    same = np.array_equal(np.array(ref), np.array(det.scores))
    print(f"check      model: {len(ref)} steps, edgernn {'==' if same else '!='} the TFLite "
          f"interpreter ({pkg}, reference kernels)")
    try:
        from pymicro_features import MicroFrontend
    except ImportError:
        print("check      features: pymicro-features not installed (pip install "
              "pymicro-features)")
        return
    with WavFile(path, rate=16000, mono=True) as src:
        pcm = (np.concatenate([b.data[:, 0] for b in src]) * 32768).round()
    pcm = np.clip(pcm, -32768, 32767).astype("<i2").tobytes()
    theirs, mf = [], MicroFrontend()
    for k in range(0, len(pcm) - 319, 320):  # 160 samples per call, one frame per 10 ms
        r = mf.process_samples(pcm[k:k + 320])
        if r.features:
            theirs.append(np.asarray(r.features, np.float32))
    ours = features.from_spec({"type": "micro"}).offline(np.frombuffer(pcm, "<i2"))
    n = min(len(theirs), len(ours))
    same = n > 0 and np.array_equal(np.stack(theirs[:n]), ours[:n])
    print(f"check      features: {n} frames, edgernn {'==' if same else '!='} pymicro-features")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("wav", nargs="?", help="a WAV file (default: espeak-ng says the phrase)")
    ap.add_argument("--model", default="okay_nabu", choices=sorted(PHRASES))
    ap.add_argument("--cache", default=str(ROOT / ".cache" / "model_wheels"))
    ap.add_argument("--check", action="store_true",
                    help="compare with the TFLite interpreter and pymicro-features")
    args = ap.parse_args(argv)
    from edgernn.converters import load_tflite

    data, config = model_files(args.model, Path(args.cache))
    graph = load_tflite(data)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(args.wav) if args.wav else say(PHRASES[args.model], Path(tmp) / "say.wav")
        det = Detector(graph, config)
        print(f"model      {args.model}: '{config['wake_word']}', cutoff {det.cutoff}, "
              f"{len(graph.states)} state variables, {len(graph.ops)} ops")
        print(f"audio      {path.name if args.wav else 'espeak-ng: ' + PHRASES[args.model]}")
        timeline = run(path, det)
        hits = [t for (t, p), (_, q) in zip(timeline[1:], timeline, strict=False)
                if p > det.cutoff >= q]
        best = max(timeline, key=lambda tp: tp[1], default=(0.0, 0.0))
        found = "DETECTED at " + ", ".join(f"{t:.2f} s" for t in hits) if hits else \
            "not detected"
        print(f"result     {found}; highest smoothed probability {best[1]:.3f} at "
              f"{best[0]:.2f} s")
        us = np.array(det.step_us[5:] or [0.0])
        print(f"latency    step(): {np.median(us):.1f} µs per 30 ms step (median of {len(us)})")
        if args.check:
            check(data, det, path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
