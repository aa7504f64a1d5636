"""Microphone through real PortAudio and sounddevice, fed by ALSA file PCMs.

An ALSA PCM of type ``file`` with ``infile`` makes PortAudio capture a raw
file (DESIGN.md, "Testing real I/O without hardware").  PortAudio reads the
ALSA configuration once per process, so every scenario runs in a subprocess:
this file run as a script (``python tests/test_sources_mic.py SCENARIO JSON``).
The reference is the raw file itself (bit-exact for int16), and for the
resampled path ``scipy.signal.resample_poly`` with the same firwin filter.
"""

from __future__ import annotations

import ctypes.util
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve()
RATE = 16000


# ---------------------------------------------------------------- child side
def _capture(cfg: dict, sleep: float = 0.0) -> dict:
    from edgernn.sources import Microphone

    blocks = []
    with Microphone(cfg["device"], rate=cfg.get("rate", RATE), duration=cfg["duration"],
                    queue_blocks=cfg.get("queue", 100000), device_rate=cfg.get("device_rate"),
                    blocksize=cfg.get("blocksize")) as mic:
        for b in mic:
            blocks.append(b)
            time.sleep(sleep)
        summary = mic.summary()
    data = np.concatenate([b.data for b in blocks]) if blocks else np.zeros((0, 1))
    np.savez(cfg["out"], data=data, time=[b.time for b in blocks],
             length=[len(b) for b in blocks], dropped=[b.dropped for b in blocks])
    return summary


def pace(fifo: str, byte_rate: int) -> None:
    """Read the FIFO the file PCM writes to at the stream's byte rate (4 KiB pipe)."""
    import fcntl
    import threading

    fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    fcntl.fcntl(fd, 1031, 4096)  # F_SETPIPE_SZ
    os.open(fifo, os.O_WRONLY)   # a writer of our own: no EOF before the PCM opens it
    os.set_blocking(fd, True)

    def run() -> None:
        start, got = time.monotonic(), 0
        while chunk := os.read(fd, 640):
            if not got:
                start = time.monotonic()
            got += len(chunk)
            time.sleep(max(0.0, start + got / byte_rate - time.monotonic()))

    threading.Thread(target=run, daemon=True).start()


def child(scenario: str, cfg: dict) -> dict:
    from edgernn.errors import SourceError

    if scenario == "no_sounddevice":
        sys.modules["sounddevice"] = None
    if scenario == "no_portaudio":
        real = ctypes.util.find_library
        ctypes.util.find_library = lambda name: None if "portaudio" in name else real(name)
    if scenario == "paced":
        pace(cfg["fifo"], RATE * 2)
    try:
        return _capture(cfg, cfg.get("sleep", 0.0))
    except SourceError as e:
        return {"error": str(e)}


# ---------------------------------------------------------------- parent side
def _need(tool: str) -> None:
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed (tests/run.sh installs it as root: apt-get "
                    "install espeak-ng sox alsa-utils)")


@pytest.fixture(scope="module")
def audio(tmp_path_factory) -> dict:
    if ctypes.util.find_library("portaudio") is None:
        pytest.skip("libportaudio2 is not installed (sudo apt-get install libportaudio2)")
    if not Path("/usr/share/alsa/alsa.conf").exists():
        pytest.skip("ALSA configuration missing (sudo apt-get install alsa-utils)")
    pytest.importorskip("sounddevice")
    _need("espeak-ng")
    _need("sox")
    d = tmp_path_factory.mktemp("mic")
    wav = d / "utt.wav"
    subprocess.run(["espeak-ng", "-v", "en", "-w", str(wav), "edge inference keeps going"],
                   check=True, capture_output=True)
    for rate in (16000, 44100, 48000):
        subprocess.run(["sox", str(wav), "-r", str(rate), "-b", "16", "-e", "signed-integer",
                        "-c", "1", "-t", "raw", str(d / f"utt{rate}.raw")], check=True)
    (d / "fifo").mkdir()
    fifo = d / "fifo" / f"out-S16_LE-{RATE}-1"
    os.mkfifo(fifo)
    conf = d / "asound.conf"
    pcm = 'slave.pcm "null"; format "raw";'
    conf.write_text(
        f'pcm.kwsfile {{ type file; {pcm} file "/dev/null"; infile "{d}/utt16000.raw" }}\n'
        f'pcm.kwsfile48 {{ type file; {pcm} file "/dev/null"; infile "{d}/utt48000.raw" }}\n'
        f'pcm.kwsfile44 {{ type file; {pcm} file "/dev/null"; infile "{d}/utt44100.raw" }}\n'
        f'pcm.kwspaced {{ type file; {pcm} file "{d}/fifo/out-%f-%r-%c"; '
        f'infile "{d}/utt16000.raw" }}\n')
    return {"dir": d, "conf": conf, "fifo": str(fifo),
            "x16": np.fromfile(d / "utt16000.raw", "<i2"),
            "x48": np.fromfile(d / "utt48000.raw", "<i2"),
            "x44": np.fromfile(d / "utt44100.raw", "<i2")}


def run_child(audio: dict, scenario: str, **cfg) -> tuple[dict, dict | None]:
    out = audio["dir"] / f"{scenario}.npz"
    cfg = {"out": str(out), "fifo": audio["fifo"], **cfg}
    env = dict(os.environ, ALSA_CONFIG_PATH=f"/usr/share/alsa/alsa.conf:{audio['conf']}")
    p = subprocess.run([sys.executable, str(HERE), scenario, json.dumps(cfg)], env=env,
                       capture_output=True, text=True, timeout=180)
    assert p.returncode == 0, p.stderr[-3000:]
    result = json.loads(p.stdout.strip().splitlines()[-1])
    return result, (dict(np.load(out)) if out.exists() else None)


def _as_int16(x: np.ndarray) -> np.ndarray:
    return np.round(x[:, 0].astype(np.float64) * 32768).astype(np.int16)


def test_capture_is_bit_exact(audio):
    x = audio["x16"]
    summary, got = run_child(audio, "plain", device="kwsfile", duration=len(x) / RATE)
    assert summary["frames"] == len(x) and summary["dropped"] == 0
    assert summary["device_rate"] == RATE
    np.testing.assert_array_equal(_as_int16(got["data"]), x)
    starts = np.concatenate([[0], np.cumsum(got["length"])[:-1]])
    np.testing.assert_array_equal(got["time"], starts / RATE)


def _check_gaps(x: np.ndarray, got: dict, summary: dict) -> None:
    """Every block equals the file where its stream time says; gaps add up."""
    assert got["length"].sum() + summary["dropped"] == len(x)
    assert got["dropped"].sum() == summary["dropped"]
    data, pos = _as_int16(got["data"]), 0
    for t, n in zip(got["time"], got["length"], strict=True):
        start = round(t * RATE)
        np.testing.assert_array_equal(data[pos: pos + n], x[start: start + n])
        pos += n
    ends = np.round(got["time"] * RATE).astype(int) + got["length"]
    np.testing.assert_array_equal(np.round(got["time"][1:] * RATE).astype(int),
                                  ends[:-1] + got["dropped"][1:])


def test_slow_consumer_counts_every_dropped_sample(audio):
    x = audio["x16"]
    summary, got = run_child(audio, "slow", device="kwsfile", duration=len(x) / RATE,
                             queue=3, sleep=0.005)
    assert summary["dropped"] > 0
    _check_gaps(x, got, summary)


def test_paced_capture_with_a_slow_consumer(audio):
    """Paced at real time by a FIFO; a consumer at 2/3 of real time drops mid-stream."""
    x = audio["x16"]
    summary, got = run_child(audio, "paced", device="kwspaced", duration=len(x) / RATE,
                             queue=2, sleep=0.03, blocksize=320)
    assert summary["dropped"] > 0 and summary["frames"] > 0
    assert (got["dropped"][1:-1] > 0).any(), "expected a gap before the end"
    _check_gaps(x, got, summary)


def test_paced_capture_keeping_up_is_exact(audio):
    x = audio["x16"]
    summary, got = run_child(audio, "paced", device="kwspaced", duration=len(x) / RATE,
                             queue=64)   # 1.3 s of slack for a loaded machine
    assert summary["dropped"] == 0
    np.testing.assert_array_equal(_as_int16(got["data"]), x)


def test_device_at_48k_gives_16k_blocks(audio):
    signal = pytest.importorskip("scipy.signal")
    x = audio["x48"]
    summary, got = run_child(audio, "plain", device="kwsfile48", duration=len(x) / 48000,
                             device_rate=48000)
    assert summary["device_rate"] == 48000 and summary["rate"] == RATE
    h = signal.firwin(2 * 32 * 3 + 1, 0.9 / 3, window=("kaiser", 8.0))
    want = signal.resample_poly(x / 32768.0, 1, 3, window=h)
    assert got["data"].shape == (len(want), 1)
    np.testing.assert_allclose(got["data"][:, 0], want, atol=1e-6)


def test_rate_the_device_refuses_falls_back_to_its_default(audio):
    """PortAudio refuses 800 Hz on the file PCM: it opens at its default 44.1 kHz and the
    stream is resampled to 800 Hz (ratio 8/441)."""
    signal = pytest.importorskip("scipy.signal")
    x = audio["x44"]
    summary, got = run_child(audio, "plain", device="kwsfile44", duration=len(x) / 44100,
                             rate=800, blocksize=40)
    assert summary["device_rate"] == 44100 and summary["rate"] == 800
    h = signal.firwin(2 * 32 * 441 + 1, 0.9 / 441, window=("kaiser", 8.0))
    want = signal.resample_poly(x / 32768.0, 8, 441, window=h)
    assert got["data"].shape == (len(want), 1)
    np.testing.assert_allclose(got["data"][:, 0], want, atol=2e-6)


def test_unknown_device_lists_the_input_devices(audio):
    result, _ = run_child(audio, "plain", device="no-such-mic", duration=1.0)
    assert "no-such-mic" in result["error"] and "kwsfile" in result["error"]


def test_missing_sounddevice_says_what_to_install(audio):
    result, _ = run_child(audio, "no_sounddevice", device="kwsfile", duration=1.0)
    assert "pip install 'edgernn[audio]'" in result["error"]


def test_missing_portaudio_says_what_to_install(audio):
    result, _ = run_child(audio, "no_portaudio", device="kwsfile", duration=1.0)
    assert "apt-get install libportaudio2" in result["error"]


if __name__ == "__main__":
    print(json.dumps(child(sys.argv[1], json.loads(sys.argv[2])), default=str))
