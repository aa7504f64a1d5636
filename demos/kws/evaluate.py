"""Evaluate the KWS model float vs int8 through the live pipeline; write the bundled files.

Every number comes from :class:`edgernn.pipeline.Pipeline` (front end, model, keyword
detector), the same path ``edgernn listen`` runs:

* **accuracy**: each test clip (a speaker never heard in training) in a 2 s stream of
  noise at 30/20/10/5 dB SNR, ending at least 0.6 s before the stream ends, plus
  pure-noise streams; the prediction is the first detection (or none); truth is the
  keyword, or none for unknown words and noise;
* **false alarms per hour**: one continuous hour of keyword-free audio: test speakers'
  sentences and unknown words over changing noise, never reset;
* the detection threshold is chosen on validation speakers (held out of training),
  not on the test speakers.
"""

from __future__ import annotations

import json
import wave
from pathlib import Path

import numpy as np
from mix import LABELS, RATE, SNRS, Clips, Mixer, rms

import edgernn
from edgernn.live_models import make_detector
from edgernn.model import Model
from edgernn.pipeline import Pipeline

DETECTOR = {"type": "keyword", "window": 0.3, "min_count": 3, "suppression": 1.0}
GRID = [0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95]
SAMPLE_WORDS = ("yes", "stop")
TAIL = 0.6  # seconds of noise after every test word: the detector fires ~0.15 s after its end


def clip_streams(clips: Clips, seed: int, noise_only: int = 40) -> list[tuple]:
    """(audio, truth label or None, SNR) per test clip, then noise-only streams."""
    mixer = Mixer(clips, seed)
    out = []
    for k in range(len(clips.audio)):
        snr = SNRS[k % len(SNRS)]
        x, _ = mixer.stream(2.0, [k], snr=snr, tail=TAIL)  # time to fire after the word
        lab = int(clips.label[k])
        out.append((x, LABELS[lab] if lab >= 2 else None, snr))
    out += [(mixer.stream(2.0, [])[0], None, None) for _ in range(noise_only)]
    return out


def posteriors(model: Model, streams: list[tuple]) -> list[tuple]:
    """(frame times, scores) of each stream through the pipeline (reset between streams)."""
    pipe, out = Pipeline([model]), []
    for x, *_ in streams:
        pipe.reset()
        pipe.push(x.astype(np.float32))
        out.append((pipe.last_times, pipe.runners[0].last_scores))
    return out


def predictions(model: Model, post: list[tuple], threshold: float) -> list[str | None]:
    """The first detection of each stream (None if none) by the model's own detector."""
    fe = edgernn.features.for_model(model)
    preds = []
    for times, probs in post:
        det = make_detector(model, fe, LABELS, threshold)
        events = [e for t, p in zip(times, probs, strict=True) for e in det.update(p, t)]
        preds.append(events[0].label if events else None)
    return preds


def scores(streams: list[tuple], preds: list) -> dict:
    truth = [t for _, t, _ in streams]
    by_snr = {f"hit_rate_{snr:g}dB": float(np.mean([p == t for p, (_, t, s) in
                                                    zip(preds, streams, strict=True)
                                                    if t is not None and s == snr]))
              for snr in SNRS}
    kw = [p for p, t in zip(preds, truth, strict=True) if t is not None]
    kw_truth = [t for t in truth if t is not None]
    neg = [p for p, t in zip(preds, truth, strict=True) if t is None]
    return {"accuracy": float(np.mean([p == t for p, t in zip(preds, truth, strict=True)])),
            "hit_rate": float(np.mean([p == t for p, t in zip(kw, kw_truth, strict=True)])),
            "wrong_keyword": float(np.mean([p not in (None, t) for p, t in
                                            zip(kw, kw_truth, strict=True)])),
            "false_accept": float(np.mean([p is not None for p in neg])),
            "clips": len(streams), **by_snr}


def pick_threshold(model: Model, val: list[tuple], max_false: float = 0.03) -> float:
    """The most accurate threshold whose false-accept rate on validation negatives is at
    most ``max_false`` (the highest of the grid if none is)."""
    best, post = (-1.0, GRID[-1]), posteriors(model, val)
    for th in GRID:
        s = scores(val, predictions(model, post, th))
        print(f"  validation threshold {th:.2f}: accuracy {s['accuracy']:.3f}, hits "
              f"{s['hit_rate']:.3f}, false accepts {s['false_accept']:.3f}")
        if s["false_accept"] <= max_false:
            best = max(best, (s["accuracy"], th))
    return best[1]


def keyword_free_audio(clips: Clips, seed: int, minutes: int = 60):
    """`minutes` of keyword-free speech and noise in 30 s pieces (f32): unknown words every
    few seconds and a sentence per piece over changing noise."""
    mixer, rng = Mixer(clips, seed), np.random.default_rng(seed)
    unknown = clips.of(1)
    for _ in range(minutes * 2):
        words = [int(rng.choice(unknown)) for _ in range(int(rng.integers(4, 12)))]
        x, _ = mixer.stream(30.0, words)
        s = clips.sentences[int(rng.integers(len(clips.sentences)))]
        at = int(rng.integers(0, len(x) - len(s)))
        x[at:at + len(s)] += s * rms(x) * 10 ** (rng.uniform(5, 25) / 20) / rms(s)
        x /= max(1.0, np.abs(x).max() / 0.99)
        yield x.astype(np.float32)


def keyword_free_hour(clips: Clips, pipe: Pipeline, seed: int, minutes: int = 60) -> dict:
    """Detections on `minutes` of keyword-free audio, streamed continuously (never reset)."""
    pipe.reset()
    n_det = sum(len(pipe.push(x)) for x in keyword_free_audio(clips, seed, minutes))
    return {"false_alarms": n_det, "hours": minutes / 60, "per_hour": n_det * 60 / minutes}


def threshold_sweep(model: Model, seed: int, thresholds: list[float]) -> list[dict]:
    """Hit rate, false accepts and false alarms per hour at each threshold (test speakers);
    the posteriors are computed once, the detector is rerun per threshold."""
    test = Clips("test")
    streams = clip_streams(test, seed + 2)
    post = posteriors(model, streams)
    pipe, hour = Pipeline([model]), []
    for x in keyword_free_audio(test, seed + 3):
        pipe.push(x)
        hour.append((pipe.last_times, pipe.runners[0].last_scores))
    times = np.concatenate([t for t, _ in hour])
    probs = np.concatenate([p for _, p in hour])
    fe = edgernn.features.for_model(model)
    rows = []
    for th in thresholds:
        row = scores(streams, predictions(model, post, th))
        det = make_detector(model, fe, LABELS, th)
        n = sum(len(det.update(p, t)) for t, p in zip(times, probs, strict=True))
        rows.append({"threshold": th, **row, "per_hour": n * 3600 / times[-1]})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def sample_wav(clips: Clips, model: Model, path: Path, seed: int) -> dict:
    """A 4 s WAV with two keywords by a test speaker that the model detects; its truth."""
    rng = np.random.default_rng(seed)
    first = [k for k in range(len(clips.word)) if clips.word[k] == SAMPLE_WORDS[0]]
    for k in rng.permutation(first):
        voice = clips.voice[k]
        other = [j for j in range(len(clips.word))
                 if clips.word[j] == SAMPLE_WORDS[1] and clips.voice[j] == voice]
        if not other:
            continue
        x = Mixer(clips, seed).noise(4 * RATE) * 10 ** (-55 / 20)
        ends = []
        for at, j in ((int(0.6 * RATE), int(k)), (int(2.3 * RATE), other[0])):
            c = clips.audio[j] * 10 ** (-12 / 20) / np.abs(clips.audio[j]).max()
            x[at:at + len(c)] += c
            ends.append(round((at + len(c)) / RATE, 3))
        dets = Pipeline([model]).push(x.astype(np.float32))
        if [d.label for d in dets] == list(SAMPLE_WORDS):
            pcm = np.round(np.clip(x, -1, 1) * 32767).astype("<i2")
            with wave.open(str(path), "wb") as w:
                w.setnchannels(1)
                w.setsampwidth(2)
                w.setframerate(RATE)
                w.writeframes(pcm.tobytes())
            return {"voice": voice, "words": list(SAMPLE_WORDS), "word_ends_s": ends,
                    "detections": [[round(d.time, 3), d.label, round(d.score, 3)]
                                   for d in dets]}
    raise RuntimeError("no test speaker gave a sample both keywords are detected in")


def test_metrics(graphs: dict, threshold: float, seed: int) -> dict:
    """Accuracy and false alarms per hour of each model (name -> graph) on the test speakers."""
    test = Clips("test")
    streams = clip_streams(test, seed + 2)
    results = {"test_variants": test.variants}
    for name, g in graphs.items():
        model = Model(g)
        results[name] = scores(streams, predictions(model, posteriors(model, streams),
                                                    threshold))
        results[name].update(keyword_free_hour(test, Pipeline([model]), seed + 3))
        print(name, json.dumps(results[name]), flush=True)
    return results


def finish(args, parameters: int) -> None:
    """Convert the exported ONNX (args.work/kws.onnx), choose the threshold on the
    validation speakers, measure on the test speakers, write the bundled files."""
    from train import FRONTEND, convert_both

    metadata = {"labels": LABELS, "frontend": edgernn.features.from_spec(FRONTEND).spec,
                "detector": dict(DETECTOR), "sample_rate_hz": RATE,
                "task": "keyword spotting: " + ", ".join(LABELS[2:]),
                "source": "espeak-ng synthetic speech, trained by demos/kws/train.py"}
    graph, g8 = convert_both(args.work / "kws.onnx", metadata)
    val = clip_streams(Clips("train", voices=set(args.val_variants)), args.seed + 1)
    threshold = pick_threshold(Model(graph), val)
    for g in (graph, g8):
        g.metadata["detector"]["threshold"] = threshold
    results = {"threshold": threshold, "parameters": parameters,
               **test_metrics({"float": graph, "int8": g8}, threshold, args.seed)}
    args.out.mkdir(parents=True, exist_ok=True)
    edgernn.save(graph, args.out / "kws.ern")
    edgernn.save(g8, args.out / "kws_int8.ern")
    results["sample"] = sample_wav(Clips("test"), Model(graph), args.out / "kws_sample.wav",
                                   args.seed)
    args.results.write_text(json.dumps(results, indent=1) + "\n")
    print(json.dumps(results, indent=1))


def main() -> None:
    """Re-measure shipped models: ``python demos/kws/evaluate.py [DIR]`` (default
    runtime/models); ``--from-onnx WORK`` redoes the whole finish from WORK/kws.onnx."""
    import argparse

    from edgernn.weightfile import load_graph

    here = Path(__file__).resolve().parent
    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("dir", nargs="?", type=Path, default=here.parents[1] / "runtime" / "models")
    ap.add_argument("--from-onnx", type=Path, dest="work")
    ap.add_argument("--results", type=Path, default=here / "results.json")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sweep", type=float, nargs="+", metavar="THRESHOLD",
                    help="hit rate and false alarms/h of the float model at these thresholds")
    args = ap.parse_args()
    if args.sweep:
        threshold_sweep(Model(load_graph(args.dir / "kws.ern")), args.seed, args.sweep)
        return
    if args.work:
        import onnx

        args.out = args.dir
        args.val_variants = Clips("train").variants[::10]
        inits = onnx.load(str(args.work / "kws.onnx")).graph.initializer
        sizes = [int(np.prod(t.dims)) for t in inits
                 if not t.name.endswith(("mean", "inv_std"))]  # trained parameters
        finish(args, sum(sizes))
        return
    graphs = {"float": load_graph(args.dir / "kws.ern"),
              "int8": load_graph(args.dir / "kws_int8.ern")}
    threshold = graphs["float"].metadata["detector"]["threshold"]
    print(json.dumps(test_metrics(graphs, threshold, args.seed), indent=1))


if __name__ == "__main__":
    main()
