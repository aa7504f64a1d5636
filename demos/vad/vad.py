"""Voice activity detection with Silero VAD on edgernn: a WAV file in, speech segments out.

    python demos/vad/vad.py                      # synthesized speech (espeak-ng) with silences
    python demos/vad/vad.py --wav talk.wav       # any WAV (resampled to 16 kHz, mixed to mono)
    python demos/vad/vad.py --variant silero_vad_16k_op15.onnx --threshold 0.6

The model comes from the silero-vad wheel (``pip download``, cached in .cache/models)
and is converted once with ``edgernn convert`` semantics (``--const sr=16000`` where the
model has ``sr``).  The WAV is streamed block by block: every 512 new samples plus
the 64 before them make one 576-sample chunk, stepped through the model with its
LSTM state carried inside the stream.  Prints each chunk's cost and the speech
segments (and, for the synthesized audio, where the speech really was).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import silero

import edgernn
from edgernn.sources import WavFile


def model_path(variant: str, cache: Path) -> Path:
    """The converted .ern of ``variant`` (converted on first use)."""
    from edgernn.converters import convert

    ern = cache / f"{Path(variant).stem}.ern"
    if not ern.exists():
        report = convert(silero.fetch(cache) / variant, ern, consts=silero.VARIANTS[variant],
                         verify=True)
        print(report, file=sys.stderr)
    return ern


def stream_wav(model: edgernn.Model, wav: Path) -> tuple[np.ndarray, np.ndarray]:
    """(probability per 512-sample chunk, µs per step) streaming ``wav`` through the model."""
    stream = model.stream()
    context = np.zeros(silero.CONTEXT, np.float32)
    pending = np.zeros(0, np.float32)
    out = np.zeros(model.outputs[model.graph.outputs[0]], np.float32)
    probs, cost = [], []
    with WavFile(wav, rate=silero.SR, mono=True, block=silero.HOP) as src:
        for block in src:
            pending = np.concatenate([pending, block.data[:, 0]])
            while len(pending) >= silero.HOP:
                chunk = np.concatenate([context, pending[:silero.HOP]])
                t0 = time.perf_counter_ns()
                stream.step(chunk, out=out)
                cost.append((time.perf_counter_ns() - t0) / 1000)
                probs.append(float(out.reshape(-1)[0]))
                context, pending = chunk[-silero.CONTEXT:], pending[silero.HOP:]
    return np.array(probs), np.array(cost)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--wav", type=Path, help="audio to scan (default: synthesized speech)")
    ap.add_argument("--variant", default="silero_vad.onnx", choices=list(silero.VARIANTS))
    ap.add_argument("--threshold", type=float, default=0.5)
    args = ap.parse_args(argv)
    cache = silero.cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    try:
        model = edgernn.load(model_path(args.variant, cache))
        truth = None
        if args.wav is None:
            audio, truth = silero.speech_with_silences(24.0)
            args.wav = cache / "vad_demo.wav"
            silero.write_wav(args.wav, audio)
    except silero.Unavailable as e:
        print(f"vad demo: {e}", file=sys.stderr)
        return 2
    probs, cost = stream_wav(model, args.wav)
    seconds = len(probs) * silero.HOP / silero.SR
    print(f"{args.wav}: {seconds:.1f} s in {len(probs)} chunks of 32 ms; edgernn step "
          f"median {np.median(cost):.1f} µs, p90 {np.percentile(cost, 90):.1f} µs "
          f"({np.median(cost) / 32000:.4f} of real time)")
    print("speech segments (s):")
    for seg in silero.segments(probs, args.threshold):
        print(f"  {seg.start:6.2f} - {seg.end:6.2f}")
    if truth is not None:
        print("where the synthesized speech was (s):")
        for seg in truth:
            print(f"  {seg.start:6.2f} - {seg.end:6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
