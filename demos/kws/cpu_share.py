"""CPU share of `edgernn listen` on this machine, pinned to one core, per number of models.

Runs the real command (``edgernn listen MODEL... --wav long.wav --json``) in a
subprocess pinned to CPU 0 with one numba thread, on a minute of audio (the bundled
recording repeated, with a little noise so no two repeats are equal).  The summary's
``cpu_s`` is the process CPU time of the streaming loop (start-up excluded) and
``seconds`` the audio streamed: their ratio is the share of one core that listening
in real time costs.  ``frontend_us`` / ``step_us`` split the work per 10 ms frame.

    python demos/kws/cpu_share.py [--seconds 60] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import wave
from pathlib import Path

import numpy as np

from edgernn.listen import bundled_sample

SETS = [("kws",), ("kws_int8",), ("kws", "kws_int8"), ("kws",) * 4]


def long_wav(seconds: float, path: Path) -> None:
    with wave.open(bundled_sample()) as w:
        rate = w.getframerate()
        x = np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float64)
    reps = int(np.ceil(seconds * rate / len(x)))
    y = np.tile(x, reps)[: int(seconds * rate)]
    y += np.random.default_rng(0).normal(0, 30, len(y))
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(np.clip(np.round(y), -32768, 32767).astype("<i2").tobytes())


def measure(models: tuple[str, ...], wav: Path) -> dict:
    env = dict(os.environ, NUMBA_NUM_THREADS="1", OMP_NUM_THREADS="1")
    cmd = ["taskset", "-c", "0", sys.executable, "-m", "edgernn.cli", "listen", *models,
           "--wav", str(wav), "--json"]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--repeat", type=int, default=3, help="runs per set (the best is kept)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        wav = Path(d) / "long.wav"
        long_wav(args.seconds, wav)
        print("| models | CPU share of one core | front end µs/frame | models µs/frame "
              "| per model µs/frame |")
        print("|---|---:|---:|---:|---:|")
        for models in SETS:
            best = min((measure(models, wav) for _ in range(args.repeat)),
                       key=lambda s: s["cpu_share"])
            name = " + ".join(models) if len(set(models)) > 1 else \
                f"{models[0]}" + (f" ×{len(models)}" if len(models) > 1 else "")
            print(f"| {name} | {100 * best['cpu_share']:.2f} % | {best['frontend_us']:.1f} | "
                  f"{best['step_us']:.1f} | {best['step_us'] / len(models):.1f} |", flush=True)


if __name__ == "__main__":
    main()
