"""µs per hop of the streaming front ends vs librosa, numpy and pymicro-features, one thread.

    python benchmarks/bench_features.py [--quick] [--seconds 10] [--repeats 5] [--no-write]

Three front ends (the defaults a keyword spotter uses, 16 kHz, 10 ms hop):
log-mel 40 (25 ms Hann window, n_fft 512, ``log(S + 1e-6)``), MFCC 13 (of a 40-band
dB mel) and the TFLM micro front end (pymicro-features' configuration).  Peers, all
in this process on the same speech (espeak-ng, else noise):

* **edgernn hop** ``fe.process(one hop of samples)`` per call: the live path;
* **edgernn bulk** ``fe.offline(1 s of samples)`` / frames;
* **numpy hop** ``np.fft.rfft`` of the last window + a precomputed mel matrix (+ DCT);
* **librosa hop** ``librosa.feature.melspectrogram`` (+ ``mfcc``) on the last window;
* **librosa bulk** the same on 1 s of samples / frames (offline only: not streaming);
* **pymicro-features hop** ``MicroFrontend.process_samples(10 ms of bytes)``.

Each peer's frames are first checked against edgernn's (max |err| <= 1e-4; the micro
front end must be bit-identical) and the script aborts otherwise.  Reported: µs per
hop (best of the interleaved passes; a hop peer's pass is the median of its calls),
and the ratio to **edgernn hop**.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
import wave
from collections.abc import Callable
from pathlib import Path

import common  # first: pins every library to one thread before numpy is imported
import numpy as np

from edgernn import features

SR, HOP, TOL = 16000, 160, 1e-4
LOGMEL = {"type": "logmel", "n_mels": 40}
MFCC = {"type": "mfcc", "n_mels": 40, "n_mfcc": 13}
MICRO = {"type": "micro"}


def audio(seconds: float) -> np.ndarray:
    """int16 speech (espeak-ng, repeated to length) plus noise; noise alone without espeak."""
    n = int(seconds * SR)
    rng = np.random.default_rng(0)
    x = np.zeros(0)
    if shutil.which("espeak-ng"):
        from scipy.signal import resample_poly

        with tempfile.TemporaryDirectory() as d:
            p = Path(d) / "s.wav"
            subprocess.run(["espeak-ng", "-w", str(p), "hey edge, turn on the lights"],
                           check=True, capture_output=True)
            with wave.open(str(p)) as w:
                x = np.frombuffer(w.readframes(w.getnframes()), np.int16) / 32768
                x = resample_poly(x, SR, w.getframerate())
    x = np.resize(x, n) if x.size else 0.1 * rng.standard_normal(n)
    x = x + 0.003 * rng.standard_normal(n)
    return np.clip(np.rint(x * 32768), -32768, 32767).astype(np.int16)


class Peer:
    """A front end under test: ``fn(block)`` per hop, or ``fn(signal)`` once (``bulk``)."""

    def __init__(self, name: str, fn: Callable, bulk: bool = False,
                 reset: Callable[[], None] = lambda: None) -> None:
        self.name, self.fn, self.bulk, self.reset = name, fn, bulk, reset

    def frames(self, x: np.ndarray) -> np.ndarray:
        """All frames of the signal x int16[n], from a fresh state, f32[T, F]."""
        self.reset()
        if self.bulk:
            return np.asarray(self.fn(x), np.float32)
        rows = [np.asarray(self.fn(b), np.float32) for b in blocks(x)]
        return np.concatenate([r for r in rows if r.size])


def blocks(x: np.ndarray) -> list[np.ndarray]:
    return [x[i:i + HOP] for i in range(0, len(x) - HOP + 1, HOP)]


def edgernn_peers(spec: dict) -> list[Peer]:
    live, whole = features.from_spec(spec), features.from_spec(spec)
    return [Peer("edgernn hop", live.process, reset=live.reset),
            Peer("edgernn bulk", whole.offline, bulk=True)]


def sliding(n_fft: int, frame_fn: Callable[[np.ndarray], np.ndarray]) -> tuple[Callable, Callable]:
    """Per-hop driver for a whole-frame transform: keeps the last n_fft + HOP samples and,
    after each hop, transforms the newest complete (librosa-aligned) frame."""
    hist = np.zeros(n_fft + HOP, np.float32)
    seen = [0]
    empty = np.zeros((0, 1), np.float32)

    def hop(block: np.ndarray) -> np.ndarray:
        hist[:-HOP] = hist[HOP:]
        hist[-HOP:] = block * np.float32(1 / 32768)
        seen[0] += HOP
        if seen[0] < n_fft:
            return empty
        start = (seen[0] - n_fft) // HOP * HOP - seen[0] + len(hist)
        return frame_fn(hist[start:start + n_fft])

    def reset() -> None:
        hist[:] = 0
        seen[0] = 0

    return hop, reset


def reference_peers(spec: dict) -> list[Peer]:
    """numpy and librosa, computing the same features from the filled spec."""
    import librosa
    from scipy.fft import dct

    s = features.from_spec(spec).spec
    mfcc = s["type"] == "mfcc"
    kw = dict(sr=s["sample_rate"], n_fft=s["n_fft"], hop_length=s["hop_length"],
              win_length=s["win_length"], window=s["window"], center=False, n_mels=s["n_mels"],
              fmin=s["fmin"], fmax=s["fmax"], htk=s["mel_scale"] == "htk", norm=s["mel_norm"])

    def log(m: np.ndarray) -> np.ndarray:  # m (n_mels, T)
        if not mfcc:
            return np.log(m + s["log_offset"]).T
        db = librosa.power_to_db(m, ref=1.0, amin=s["amin"], top_db=None)
        return librosa.feature.mfcc(S=db, n_mfcc=s["n_mfcc"]).T

    def lib(y: np.ndarray) -> np.ndarray:
        return log(librosa.feature.melspectrogram(y=y, power=2.0, **kw))

    window = librosa.util.pad_center(librosa.filters.get_window(s["window"], s["win_length"]),
                                     size=s["n_fft"]).astype(np.float32)
    mel = librosa.filters.mel(sr=s["sample_rate"], n_fft=s["n_fft"], n_mels=s["n_mels"],
                              fmin=s["fmin"], fmax=s["fmax"], htk=s["mel_scale"] == "htk",
                              norm=s["mel_norm"])
    d = dct(np.eye(s["n_mels"]), type=2, norm="ortho", axis=0)[:s.get("n_mfcc", 0)]

    def np_frame(f: np.ndarray) -> np.ndarray:
        p = np.abs(np.fft.rfft(f * window)) ** 2
        m = mel @ p
        if not mfcc:
            return np.log(m + s["log_offset"])[None]
        return (d @ (10.0 * np.log10(np.maximum(m, s["amin"]))))[None]

    np_hop, np_reset = sliding(s["n_fft"], np_frame)
    lib_hop, lib_reset = sliding(s["n_fft"], lib)
    return [Peer("numpy hop", np_hop, reset=np_reset),
            Peer("librosa hop", lib_hop, reset=lib_reset),
            Peer("librosa bulk", lambda x: lib(x * np.float32(1 / 32768)), bulk=True)]


def micro_peers() -> list[Peer]:
    from pymicro_features import MicroFrontend

    fe = MicroFrontend()
    return [Peer("pymicro-features hop",
                 lambda b: np.asarray(fe.process_samples(b).features, np.float32).reshape(-1, 40),
                 reset=fe.reset)]


def check(peers: list[Peer], x: np.ndarray, exact: bool) -> str:
    """Abort unless every peer's frames equal edgernn hop's (on the frames both have)."""
    ref = peers[0].frames(x)
    notes = []
    for p in peers[1:]:
        got = p.frames(x)
        t = min(len(got), len(ref))
        err = float(np.abs(got[:t] - ref[:t]).max())
        ok = t >= len(ref) - 3 and (err == 0.0 if exact else err <= TOL)
        if not ok:
            raise SystemExit(f"{p.name}: {t} of {len(ref)} frames, max |err| {err:.3g}: "
                             "outputs differ, not timing")
        notes.append(f"{p.name} {err:.1e}")
    return ", ".join(notes)


def bench(peers: list[Peer], x: np.ndarray, repeats: int) -> dict[str, float]:
    """µs per hop of each peer: the best of ``repeats`` interleaved passes, where a hop
    peer's pass is the median of its calls and a bulk peer's the median over 1 s
    segments of call time / frames (the best pass drops passes another process on the
    machine slowed down)."""
    clock = time.perf_counter_ns
    passes: dict[str, list[float]] = {p.name: [] for p in peers}
    hops = blocks(x)
    segments = [x[i:i + SR] for i in range(0, len(x) - SR + 1, SR)]
    seg_frames = len(peers[0].frames(segments[0]))
    for _ in range(repeats):
        for p in peers:
            p.reset()
            if p.bulk:  # 1 s segments: a long call always includes preemption on a busy box
                per_frame = []
                for seg in segments:
                    t0 = clock()
                    p.fn(seg)
                    per_frame.append((clock() - t0) / seg_frames)
                passes[p.name].append(float(np.median(per_frame)))
                continue
            d = np.empty(len(hops), np.int64)
            for i, b in enumerate(hops):
                t0 = clock()
                p.fn(b)
                d[i] = clock() - t0
            passes[p.name].append(float(np.median(d)))
    return {k: min(v) / 1e3 for k, v in passes.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="2 s of audio, 2 repeats")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--no-write", action="store_true", help="do not touch results.md")
    args = ap.parse_args(argv)
    if args.quick:
        args.seconds, args.repeats = 2.0, 2
    x = audio(args.seconds)
    rows, checks = [], []
    for title, spec, exact in (("log-mel 40", LOGMEL, False), ("MFCC 13", MFCC, False),
                               ("micro front end", MICRO, True)):
        peers = edgernn_peers(spec) + (micro_peers() if exact else reference_peers(spec))
        checks.append(f"{title}: " + check(peers, x, exact))
        res = bench(peers, x, args.repeats)
        base = res["edgernn hop"]
        for i, (name, us) in enumerate(res.items()):
            rows.append(f"| {title if i == 0 else ''} | {name} | {us:.1f} | {us / base:.2f} |")
    md = "\n\n".join([
        "## Front ends (µs per 10 ms hop, one thread)",
        common.machine_info(),
        "| front end | peer | µs/hop | × edgernn hop |\n|---|---|---:|---:|\n"
        + "\n".join(rows),
        f"{args.seconds:g} s of 16 kHz speech, best of {args.repeats} interleaved passes; "
        "hop peers: median over the pass's calls of one hop (160 samples); bulk peers: "
        "median over 1 s segments of call time / frames. Checked first on the whole signal "
        "(max |err| vs edgernn hop): "
        + "; ".join(checks) + ".",
    ])
    print(md)
    if not args.no_write and not args.quick:
        common.write_section("features", md)
        print(f"\nwritten to {common.RESULTS}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
