"""The loop and the output shared by ``edgernn listen`` and ``edgernn imu``.

Output contract (scripts rely on it):

* ``--json``: one JSON object per line on stdout, flushed as written: every detection
  ``{"event": "detection", "time", "label", "score"}`` (plus ``"model"`` when several
  models run), and at the end ``{"event": "summary", "frames", "dropped",
  "detections", "step_us", ...}``.  ``time`` is stream time: seconds of input consumed
  when the detection fired.
* human mode: detections as lines with their times; on a terminal, a live line with
  the input level (dBFS) and the top score; a summary at the end.

Ctrl-C (SIGINT), SIGTERM (``systemctl stop``), the end of the input, and a device
that goes away (unplugged) all end the same way: the summary, exit code 0.  A lost
device is reported on stderr first.
"""

from __future__ import annotations

import json
import math
import signal
import sys
import time
from typing import Any, TextIO

import numpy as np

from .errors import SourceError
from .pipeline import paced

LIVE_EVERY = 0.1  # seconds between live-line updates


class Reporter:
    """Writes detections, the live line and the summary (JSON lines or text)."""

    def __init__(self, as_json: bool, multi: bool, out: TextIO | None = None) -> None:
        self.as_json, self.multi = as_json, multi
        self.out = out or sys.stdout
        self.live = not as_json and self.out.isatty()
        self._last_live = 0.0
        self._live_shown = False

    def _line(self, text: str) -> None:
        if self._live_shown:
            self.out.write("\r\033[K")
            self._live_shown = False
        self.out.write(text + "\n")
        self.out.flush()

    def detection(self, det: Any) -> None:
        if self.as_json:
            self._line(json.dumps(det.as_json(self.multi)))
        else:
            who = f"  [{det.model}]" if self.multi else ""
            self._line(f"{det.time:9.2f} s  {det.label:<12} {det.score:.3f}{who}")

    def progress(self, pipe: Any, block: Any) -> None:
        """The live line: stream time, input level, each model's top score."""
        now = time.monotonic()
        if not self.live or now - self._last_live < LIVE_EVERY:
            return
        self._last_live = now
        level = 10 * math.log10(float(np.mean(np.square(block.data, dtype=np.float64))) + 1e-12)
        tops = []
        for r in pipe.runners:
            k = int(np.argmax(r.scores))
            tops.append(f"{r.labels[k]} {float(r.scores[k]):.2f}")
        t = block.time + len(block) / pipe.rate
        self.out.write(f"\r\033[K{t:9.2f} s  level {level:6.1f} dB  top " + " | ".join(tops))
        self.out.flush()
        self._live_shown = True

    def summary(self, summary: dict[str, Any]) -> None:
        if self.as_json:
            self._line(json.dumps({"event": "summary", **summary}))
            return
        self._line(f"summary: {summary['frames']} frames ({summary['seconds']:.1f} s of "
                   f"input), {summary['detections']} detections, {summary['dropped']} "
                   f"samples dropped, {summary['step_us']} µs of model work per frame, "
                   f"CPU {100 * summary['cpu_share']:.1f} % of one core")


def description(doc: str) -> str:
    """A command's --help text: the third paragraph of its module docstring, plus the
    output contract in one sentence."""
    text = " ".join(doc.split("\n\n")[2].split()).replace("``", "`")
    return (text.split(" Output and exits")[0] + " --json: one JSON object per line "
            "(detections, then a summary); Ctrl-C ends with the summary.")


def _terminate(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def run_live(pipe: Any, source: Any, reporter: Reporter, *, realtime: bool = False) -> int:
    """Stream ``source`` through ``pipe`` until it ends, fails or is interrupted; exit 0."""
    # explicit handlers: a process started in the background (`cmd &` in a script, some
    # service managers) inherits SIGINT ignored, and Ctrl-C must still end it cleanly
    old = {sig: signal.signal(sig, _terminate) for sig in (signal.SIGINT, signal.SIGTERM)}
    cpu0 = time.process_time()
    try:
        with source:
            for block in paced(source, pipe.rate) if realtime else source:
                for det in pipe.push_block(block):
                    reporter.detection(det)
                reporter.progress(pipe, block)
    except KeyboardInterrupt:
        pass
    except SourceError as e:
        print(f"edgernn: {e}", file=sys.stderr, flush=True)
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
    reporter.summary(summarize(pipe, source, time.process_time() - cpu0))
    return 0


def summarize(pipe: Any, source: Any, cpu_s: float) -> dict[str, Any]:
    """The pipeline's counters with the source's (its dropped count is the authority)."""
    s = pipe.summary()
    src = source.summary()
    seconds = (src["frames"] + src["dropped"]) / src["rate"] if src["rate"] else 0.0
    s.update(dropped=int(src["dropped"]), seconds=round(seconds, 3),
             malformed=int(src["malformed"]), source=src["source"],
             cpu_s=round(cpu_s, 3), cpu_share=round(cpu_s / seconds, 4) if seconds else 0.0)
    if src.get("error"):
        s["error"] = src["error"]
    return s
