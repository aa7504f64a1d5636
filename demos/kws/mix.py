"""Training and test material for the KWS demo: word clips, synthetic noise, mixed streams.

``Clips`` reads ``words.npz`` (made by ``make_dataset.py``).  ``Mixer`` builds
streams: a noise bed (white, pink, brown, mains hum, babble of other words; level
-70..-25 dBFS) with words placed at random times at a chosen SNR, and per-frame
targets for the streaming model:

* ``_silence_`` everywhere by default;
* a keyword: its label from 5 frames before its end to 25 frames after, ignored
  (-1) from its start until then (the model cannot know the word yet);
* an unknown word: ``_unknown_`` from its start to 10 frames after its end.

Frame ``t`` of the front end ends at sample ``delay + (t+1)*hop``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from make_dataset import DATA, KEYWORDS

LABELS = ["_silence_", "_unknown_", *KEYWORDS]
RATE = 16000
HOP, DELAY = 160, 296  # the logmel front end (10 ms hop; frame t ends at 296 + (t+1)*160)
BEFORE, AFTER, UNKNOWN_AFTER = 5, 25, 10
SNRS = (30.0, 20.0, 10.0, 5.0)


class Clips:
    """Word clips of one split: ``audio[k]`` float32, ``label[k]`` index into LABELS."""

    def __init__(self, split: str, path: Path = DATA / "words.npz",
                 voices: set[str] | None = None) -> None:
        z = np.load(path)
        off, words = z["offsets"], z["word"]
        keep = [k for k in range(len(words)) if z["split"][k] == split
                and (voices is None or z["voice"][k].split("+")[1] in voices)]
        audio = z["audio"].astype(np.float32) / 32768
        self.audio = [audio[off[k]:off[k + 1]] for k in keep]
        self.word = [str(words[k]) for k in keep]
        self.voice = [str(z["voice"][k]) for k in keep]
        self.label = np.array([LABELS.index(w) if w in KEYWORDS else 1 for w in self.word])
        s, so = z["sentences"].astype(np.float32) / 32768, z["sentence_offsets"]
        self.sentences = [s[so[k]:so[k + 1]] for k in range(len(so) - 1)
                          if z["sentence_split"][k] == split]
        self.variants = sorted({v.split("+")[1] for v in self.voice})

    def of(self, label: int) -> np.ndarray:
        return np.flatnonzero(self.label == label)


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)) + 1e-20))


class Mixer:
    """Random noise beds and word placements (one ``numpy`` generator, reproducible)."""

    def __init__(self, clips: Clips, seed: int) -> None:
        self.clips, self.rng = clips, np.random.default_rng(seed)
        self.unknown = clips.of(1)

    def noise(self, n: int) -> np.ndarray:
        """n samples of one of five noise kinds, unit RMS."""
        rng, kind = self.rng, self.rng.integers(5)
        if kind == 0:
            x = rng.standard_normal(n)
        elif kind in (1, 2):  # pink (1/f) or brown (1/f^2) by spectral shaping
            spec = np.fft.rfft(rng.standard_normal(n))
            f = np.maximum(np.arange(len(spec)), 1.0)
            x = np.fft.irfft(spec / f ** (0.5 * kind), n)
        elif kind == 3:  # mains hum with harmonics, and a little hiss
            t = np.arange(n) / RATE
            f0 = rng.choice([50.0, 60.0])
            x = sum(np.sin(2 * np.pi * f0 * h * t + rng.uniform(0, 6.3)) / h for h in (1, 2, 3))
            x = x + 0.05 * rng.standard_normal(n)
        else:  # babble: unknown words at random places, overlapping
            x = np.zeros(n)
            for _ in range(max(1, n // 4000)):
                c = self.clips.audio[self.rng.choice(self.unknown)]
                at = rng.integers(0, max(1, n - len(c)))
                x[at:at + len(c)] += c[:n - at] * rng.uniform(0.3, 1.0)
            x = x + 0.01 * rng.standard_normal(n)
        return (x / rms(x)).astype(np.float32)

    def stream(self, seconds: float, words: list[int], snr: float | None = None,
               tail: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
        """A stream with the given clips (indices) placed in order (none in the last
        ``tail`` seconds), and its targets."""
        n = int(seconds * RATE)
        level = 10 ** (self.rng.uniform(-70, -25) / 20)
        x = self.noise(n) * level
        frames = (n - DELAY) // HOP
        y = np.zeros(frames, np.int64)
        slots = np.linspace(0, n - int(tail * RATE), len(words) + 1).astype(int)
        for k, w in enumerate(words):
            c = self.clips.audio[w]
            room = slots[k + 1] - slots[k] - len(c)
            if room <= 0:
                continue
            at = slots[k] + int(self.rng.integers(0, room))
            db = snr if snr is not None else float(self.rng.choice(SNRS))
            gain = level * 10 ** (db / 20) / rms(c) if db < 90 else 10 ** (
                self.rng.uniform(-30, -6) / 20) / rms(c)
            x[at:at + len(c)] += c * gain
            self._target(y, at, at + len(c), int(self.clips.label[w]))
        peak = np.abs(x).max()
        if peak > 0.99:
            x *= 0.99 / peak
        return x, y

    @staticmethod
    def _target(y: np.ndarray, start: int, end: int, label: int) -> None:
        f0 = max((start - DELAY) // HOP, 0)
        fe = max(-(-(end - DELAY) // HOP) - 1, 0)
        if label == 1:
            y[f0:fe + UNKNOWN_AFTER] = 1
        else:
            y[f0:max(fe - BEFORE, f0)] = -1
            y[max(fe - BEFORE, 0):fe + AFTER] = label

    def training_stream(self, seconds: float = 3.0) -> tuple[np.ndarray, np.ndarray]:
        """0-3 words (each a keyword with probability 0.5), random SNR; a third of the
        streams also carry a stretch of running speech (unknown) from a sentence."""
        n_words = int(self.rng.choice([0, 1, 1, 2, 2, 3]))
        words = []
        for _ in range(n_words):
            if self.rng.random() < 0.5:
                words.append(int(self.rng.choice(self.clips.of(2 + self.rng.integers(
                    len(KEYWORDS))))))
            else:
                words.append(int(self.rng.choice(self.unknown)))
        x, y = self.stream(seconds, words, snr=None if self.rng.random() < 0.9 else 99.0)
        if self.clips.sentences and self.rng.random() < 0.33:
            self._speech(x, y)
        return x, y

    def _speech(self, x: np.ndarray, y: np.ndarray) -> None:
        """Overlay 0.5-1.5 s of a sentence where no word is, labelled unknown."""
        s = self.clips.sentences[int(self.rng.integers(len(self.clips.sentences)))]
        n = min(len(s), int(self.rng.uniform(0.5, 1.5) * RATE), len(x) // 2)
        seg = s[(a := int(self.rng.integers(0, len(s) - n + 1))):a + n]
        for _ in range(5):
            at = int(self.rng.integers(0, len(x) - n))
            f0 = max((at - DELAY) // HOP, 0)
            fe = -(-(at + n - DELAY) // HOP) + UNKNOWN_AFTER
            if (y[f0:fe] == 0).all():
                x[at:at + n] += seg * rms(x) * 10 ** (self.rng.uniform(5, 25) / 20) / rms(seg)
                self._target(y, at, at + n, 1)
                return
