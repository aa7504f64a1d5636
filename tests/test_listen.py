"""``edgernn listen`` end to end: the real capture path (ALSA file PCM -> PortAudio ->
sounddevice -> Microphone -> pipeline), WAV and stdin input, the no-microphone fallback.

The truth is the audio itself: a keyword synthesized here with espeak-ng (a speaker the
bundled model never heard in training) at a known place in quiet noise.  Its end is
where the speech ends (the last sample above 2 % of the peak); a detection must name
the keyword within 0.3 s of that.  ALSA's file PCM captures the raw file (DESIGN.md,
"Testing real I/O without hardware"); a FIFO read at the stream's byte rate paces it
at real time.
"""

from __future__ import annotations

import ctypes.util
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import wave
from pathlib import Path

import numpy as np
import pytest
from test_sources_mic import pace  # the same ALSA-file-PCM pacing

RATE = 16000
CLI = [sys.executable, "-m", "edgernn.cli"]
VOICE, WORD = "en-us+m1", "left"  # m1 is a test-split speaker (demos/kws/results.json)
LEAD, TAIL = 1.2, 1.8             # seconds of noise before and after the word


def need(tool: str) -> None:
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed (tests/run.sh installs it as root: apt-get "
                    "install espeak-ng alsa-utils libportaudio2)")


def speak(word: str, voice: str) -> np.ndarray:
    """espeak-ng's 22.05 kHz output at 16 kHz via sox (float in [-1, 1])."""
    wav = subprocess.run(["espeak-ng", "-v", voice, "-s", "150", "--stdout", word],
                         check=True, capture_output=True).stdout
    raw = subprocess.run(["sox", "-t", "wav", "-", "-r", str(RATE), "-b", "16", "-e",
                          "signed-integer", "-t", "raw", "-"], input=wav, check=True,
                         capture_output=True).stdout
    return np.frombuffer(raw, "<i2").astype(np.float64) / 32768


@pytest.fixture(scope="module")
def keyword(tmp_path_factory) -> dict:
    need("espeak-ng")
    need("sox")
    d = tmp_path_factory.mktemp("listen")
    x = speak(WORD, VOICE)
    loud = np.flatnonzero(np.abs(x) > 0.02 * np.abs(x).max())
    x = x[loud[0]:loud[-1] + 1] * (0.3 / np.abs(x).max())
    noise = np.random.default_rng(0).standard_normal(int((LEAD + TAIL) * RATE)) * 1e-3
    sig = noise.copy()
    start = int(LEAD * RATE)
    sig[start:start + len(x)] += x
    pcm = np.round(sig * 32767).astype("<i2")
    pcm.tofile(d / "kw.raw")
    with wave.open(str(d / "kw.wav"), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(pcm.tobytes())
    return {"dir": d, "end": (start + len(x)) / RATE, "samples": len(pcm)}


def parse(out: str) -> tuple[list[dict], dict]:
    objs = [json.loads(line) for line in out.splitlines()]
    assert objs and objs[-1]["event"] == "summary", out
    return objs[:-1], objs[-1]


def listen(*args: str, env: dict | None = None, **kw) -> subprocess.CompletedProcess:
    p = subprocess.run([*CLI, "listen", *args], capture_output=True, text=True, timeout=300,
                       env=env, **kw)
    assert p.returncode == 0, p.stderr
    assert "Traceback" not in p.stderr
    return p


def assert_keyword(dets: list[dict], end: float) -> None:
    assert [d["label"] for d in dets] == [WORD], dets
    assert abs(dets[0]["time"] - end) <= 0.3, (dets, end)


def test_wav_file(keyword):
    dets, summary = parse(listen("--wav", str(keyword["dir"] / "kw.wav"), "--json").stdout)
    assert_keyword(dets, keyword["end"])
    assert summary["samples"] == keyword["samples"] and summary["dropped"] == 0
    assert summary["seconds"] == pytest.approx(keyword["samples"] / RATE)


def test_stdin_pcm(keyword):
    raw = (keyword["dir"] / "kw.raw").read_bytes()
    p = subprocess.run([*CLI, "listen", "--stdin", "--json"], input=raw, capture_output=True,
                       timeout=300)
    assert p.returncode == 0, p.stderr
    dets, summary = parse(p.stdout.decode())
    assert_keyword(dets, keyword["end"])


def has_microphone() -> bool:
    code = ("import sounddevice as sd; "
            "print(any(d['max_input_channels'] > 0 for d in sd.query_devices()))")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    return p.stdout.strip() == "True"


def test_no_microphone_falls_back_to_the_bundled_recording():
    """With no input device (CI: no sound card), the bundled keywords, with a note."""
    if has_microphone():
        pytest.skip("this machine has a microphone: `edgernn listen` would listen to it")
    p = listen("--json")
    dets, summary = parse(p.stdout)
    assert "bundled recording" in p.stderr and len(p.stderr.strip().splitlines()) == 1
    # kws_sample.wav: "yes" ending at 1.112 s and "stop" at 2.665 s (demos/kws/README.md)
    assert [d["label"] for d in dets] == ["yes", "stop"]
    assert abs(dets[0]["time"] - 1.112) <= 0.3 and abs(dets[1]["time"] - 2.665) <= 0.3


def test_several_models_name_themselves(keyword):
    wav = str(keyword["dir"] / "kw.wav")
    dets, summary = parse(listen("kws", "kws_int8", "--wav", wav, "--json").stdout)
    assert sorted(d["model"] for d in dets) == ["kws", "kws_int8"]
    assert {d["label"] for d in dets} == {WORD}
    assert set(summary["models"]) == {"kws", "kws_int8"}


def test_realtime_paces_the_file_and_sigint_ends_cleanly(keyword):
    p = subprocess.Popen([*CLI, "listen", "--wav", str(keyword["dir"] / "kw.wav"), "--json",
                          "--realtime"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    first = json.loads(p.stdout.readline())  # the keyword, in real time
    t_first = time.monotonic()
    assert first["label"] == WORD
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 0, err
    _, summary = parse(out)
    assert summary["seconds"] < keyword["samples"] / RATE  # stopped before the end
    assert time.monotonic() - t_first < 30


# ------------------------------------------------------------- the capture path
@pytest.fixture(scope="module")
def alsa(keyword) -> dict:
    if ctypes.util.find_library("portaudio") is None:
        pytest.skip("libportaudio2 is not installed (sudo apt-get install libportaudio2)")
    if not Path("/usr/share/alsa/alsa.conf").exists():
        pytest.skip("ALSA configuration missing (sudo apt-get install alsa-utils)")
    pytest.importorskip("sounddevice")
    d = keyword["dir"]
    (d / "fifo").mkdir()
    fifo = d / "fifo" / f"out-S16_LE-{RATE}-1"
    os.mkfifo(fifo)
    pcm = 'slave.pcm "null"; format "raw";'
    conf = d / "asound.conf"
    conf.write_text(
        f'pcm.kwsfile {{ type file; {pcm} file "/dev/null"; infile "{d}/kw.raw" }}\n'
        f'pcm.kwspaced {{ type file; {pcm} file "{d}/fifo/out-%f-%r-%c"; '
        f'infile "{d}/kw.raw" }}\n')
    env = dict(os.environ, ALSA_CONFIG_PATH=f"/usr/share/alsa/alsa.conf:{conf}")
    return {"env": env, "fifo": str(fifo)}


def test_microphone_path_reports_the_keyword_at_its_time(keyword, alsa):
    pace(alsa["fifo"], RATE * 2)
    seconds = keyword["samples"] / RATE
    p = listen("--device", "kwspaced", "--json", "--duration", f"{seconds}", env=alsa["env"])
    dets, summary = parse(p.stdout)
    assert_keyword(dets, keyword["end"])
    assert summary["source"] == "microphone"
    assert summary["samples"] + summary["dropped"] == keyword["samples"]


def test_slow_consumer_counts_dropped_samples(keyword, alsa):
    """The bare file PCM delivers the whole file in milliseconds: the bounded queue in
    front of the pipeline overflows, and every lost sample is counted."""
    seconds = keyword["samples"] / RATE
    p = listen("--device", "kwsfile", "--json", "--duration", f"{seconds}", env=alsa["env"])
    _, summary = parse(p.stdout)
    assert summary["dropped"] > 0 and summary["gaps"] >= 1
    assert summary["samples"] + summary["dropped"] == keyword["samples"]
    assert summary["seconds"] == pytest.approx(seconds)


def test_deploy_hook_gets_each_detection(keyword, tmp_path):
    """demos/deploy/edgernn-hook (the systemd unit's filter) passes every line through
    and runs the hook once per detection with its label."""
    hook = Path(__file__).resolve().parents[1] / "demos" / "deploy" / "edgernn-hook"
    out = tmp_path / "hook.txt"
    listen_out = listen("--wav", str(keyword["dir"] / "kw.wav"), "--json").stdout
    env = dict(os.environ, EDGERNN_HOOK=f'echo "$EDGERNN_LABEL $EDGERNN_TIME" >> {out}; cat >> '
               f'{out}')
    p = subprocess.run(["sh", str(hook)], input=listen_out, capture_output=True, text=True,
                       env=env, timeout=60)
    assert p.returncode == 0 and p.stdout == listen_out
    dets, _ = parse(listen_out)
    lines = out.read_text().splitlines()
    assert lines[0] == f"{WORD} {dets[0]['time']}" and json.loads(lines[1]) == dets[0]
