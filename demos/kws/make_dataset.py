"""Synthesize the keyword-spotting dataset with espeak-ng: words, voices, a disjoint test split.

Every clip is one word spoken by espeak-ng (``espeak-ng -v VOICE -s SPEED -p PITCH
--stdout WORD``), resampled from 22.05 kHz to 16 kHz with ``edgernn.resample`` and
trimmed to its voiced part.  A *speaker* is a voice (an English accent) combined with
a voice variant (m1, f3, Alex, croak, ...).  The variants are split between train and
test, so no test speaker is heard in training.  Speed (110-210 words/min), pitch
(15-90) and gain vary per clip.  Noise is *not* baked in: ``train.py`` mixes it at
random SNRs on the fly, so every epoch hears new mixtures.

Besides the words, ``sentences`` holds keyword-free running speech by the test
speakers, for the false-alarm stream.

    python demos/kws/make_dataset.py    # ~2 min on 2 cores -> ~/.cache/edgernn-data/kws/words.npz
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import time
import wave
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from edgernn.resample import resample

HERE = Path(__file__).resolve().parent
DATA = Path(os.environ.get("EDGERNN_DATA_CACHE", Path.home() / ".cache" / "edgernn-data")) / "kws"
RATE = 16000
KEYWORDS = ["yes", "no", "stop", "go", "left", "right"]
UNKNOWN = ["bed", "bird", "cat", "dog", "down", "eight", "five", "four", "happy", "house",
           "marvin", "nine", "off", "on", "one", "seven", "sheila", "six", "three", "tree",
           "two", "up", "wow", "zero", "yet", "nose", "top", "goat", "lift", "light",
           "bright", "yellow", "know", "ghost", "stone", "rice", "less", "slow"]
ACCENTS = ["en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan",
           "en-gb-x-gbcwmd", "en-029", "en-us-nyc"]
SENTENCES = [
    "the weather today is cloudy with a chance of light rain in the afternoon",
    "please remember to water the plants and feed the cat before you leave",
    "we took the train to the coast and walked along the beach for hours",
    "the meeting has been moved to thursday morning at ten o'clock",
    "she opened the window and listened to the birds singing in the garden",
    "a cup of tea with milk and two sugars would be lovely thank you",
    "the children built a small house out of cardboard boxes and tape",
    "turn the music down a little bit because the baby is sleeping upstairs",
    "my brother bought a new bicycle and rides it to work every day",
    "the library closes early on sundays so we should hurry",
    "there are seven apples and three oranges in the basket on the table",
    "he forgot his umbrella at the office and got completely soaked",
    "the film was much longer than we expected but the ending was worth it",
    "can you pass me the salt and pepper from the kitchen cupboard",
    "our neighbours are painting their fence a bright shade of blue",
    "the museum has a famous collection of old maps and paintings",
]


TRAIN_SENTENCES = [
    "my sister plays the violin in a small orchestra on friday evenings",
    "the bakery on the corner sells fresh bread every morning at seven",
    "we watched the sunset from the top of the hill near the old tower",
    "he fixed the kitchen tap with a wrench and a bit of patience",
    "the garden needs weeding and the hedge should be trimmed soon",
    "a large black dog was sleeping under the table in the hallway",
    "they spent the whole summer travelling through small mountain villages",
    "the teacher asked the class to read the first chapter by monday",
    "there was a long queue at the post office this afternoon",
    "the soup tastes better with a little more salt and some fresh herbs",
    "our flight was delayed because of fog at the airport",
    "she keeps her keys in a blue bowl beside the front door",
    "the old clock in the hall chimes every hour during the day",
    "we should buy more milk eggs and butter for the weekend",
    "the river was high after the heavy rain last night",
    "he wrote a long letter to his grandmother who lives by the sea",
]


def variants() -> list[str]:
    """espeak-ng's voice variants (files under voices/!v), sorted."""
    out = subprocess.run(["espeak-ng", "--voices=variant"], capture_output=True, text=True,
                         check=True).stdout.splitlines()[1:]
    return sorted({tok[3:] for line in out for tok in line.split() if tok.startswith("!v/")})


def speak(text: str, voice: str, speed: int, pitch: int) -> np.ndarray:
    """One utterance as float32 at 16 kHz, trimmed to 20 ms before/after its voiced part."""
    wav = subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch),
                          "--stdout", text], capture_output=True, check=True).stdout
    with wave.open(io.BytesIO(wav)) as w:
        rate = w.getframerate()
        x = np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float32) / 32768
    y = resample(x, rate, RATE)
    loud = np.flatnonzero(np.abs(y) > 0.02 * (np.abs(y).max() + 1e-9))
    if not len(loud):
        return y[:0]
    a, b = max(loud[0] - 320, 0), min(loud[-1] + 320, len(y))
    return y[a:b] / (np.abs(y[a:b]).max() + 1e-9)


def plan(rng: np.random.Generator, words: list[str], speakers: list[str], per_word: int):
    """(text, voice, speed, pitch) jobs: per_word clips of each word, speakers drawn at random."""
    jobs = []
    for word in words:
        for _ in range(per_word):
            jobs.append((word, str(rng.choice(speakers)), int(rng.integers(110, 211)),
                         int(rng.integers(15, 91))))
    return jobs


def synthesize(jobs, workers: int = 4) -> list[np.ndarray]:
    with ThreadPoolExecutor(workers) as ex:
        return list(ex.map(lambda j: speak(*j), jobs))


def pack(clips: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Concatenated int16 samples and (n+1,) offsets."""
    offsets = np.cumsum([0] + [len(c) for c in clips])
    audio = np.concatenate(clips) if clips else np.zeros(0, np.float32)
    return np.round(np.clip(audio, -1, 1) * 32767).astype(np.int16), offsets


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--per-keyword", type=int, default=320, help="clips per keyword (train+test)")
    ap.add_argument("--per-unknown", type=int, default=28, help="clips per unknown word")
    ap.add_argument("--test-share", type=float, default=0.22, help="share of variants in test")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=DATA / "words.npz")
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    var = list(rng.permutation(variants()))
    n_test = max(1, round(len(var) * args.test_share))
    split = {"test": var[:n_test], "train": var[n_test:]}
    t0 = time.time()
    jobs, splits = [], []
    for name, vs in split.items():
        speakers = [f"{a}+{v}" for a in ACCENTS for v in vs]
        share = args.test_share if name == "test" else 1 - args.test_share
        for words, per in ((KEYWORDS, args.per_keyword), (UNKNOWN, args.per_unknown)):
            part = plan(rng, words, speakers, max(1, round(per * share)))
            jobs += part
            splits += [name] * len(part)
    sentence_jobs, sentence_split = [], []
    for name, texts, n_voices in (("test", SENTENCES, 3), ("train", TRAIN_SENTENCES, 8)):
        for k, text in enumerate(texts):
            for j in range(n_voices):
                voice = f"{ACCENTS[(k + j) % len(ACCENTS)]}+{rng.choice(split[name])}"
                sentence_jobs.append((text, voice, int(rng.integers(130, 191)),
                                      int(rng.integers(20, 81))))
                sentence_split.append(name)
    clips = synthesize(jobs)
    sentences = synthesize(sentence_jobs)
    keep = [k for k, c in enumerate(clips) if len(c) > 1600]
    audio, offsets = pack([clips[k] for k in keep])
    s_audio, s_offsets = pack(sentences)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        args.out, audio=audio, offsets=offsets, word=np.array([jobs[k][0] for k in keep]),
        voice=np.array([jobs[k][1] for k in keep]), split=np.array([splits[k] for k in keep]),
        sentences=s_audio, sentence_offsets=s_offsets, sentence_split=np.array(sentence_split),
        keywords=np.array(KEYWORDS),
        test_variants=np.array(split["test"]), rate=RATE)
    n_train = sum(splits[k] == "train" for k in keep)
    print(f"{len(keep)} word clips ({n_train} train, {len(keep) - n_train} test; "
          f"{len(var) - n_test} train / {n_test} test variants x {len(ACCENTS)} accents), "
          f"{len(sentences)} sentences, {time.time() - t0:.0f} s -> {args.out}")


if __name__ == "__main__":
    main()
