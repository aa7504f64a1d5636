"""BasicMotions (real smart-watch IMU recordings) read from the ``aeon`` wheel's own copy.

The dataset ships inside the ``aeon`` package (``aeon/datasets/data/BasicMotions``):
3-axis accelerometer + 3-axis gyroscope at 10 Hz, 100 frames per recording, four
activities, 40 train / 40 test recordings.  aeon itself pins an older numba, so this
reads the ``.ts`` files straight out of the wheel, fetched once with
``pip download --no-deps aeon`` into a cache directory (a package download, not a data
download); no aeon import.

    x, y = load_split("train")     # (40, 100, 6) float32, (40,) int64 into LABELS
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np

LABELS = ["Standing", "Running", "Walking", "Badminton"]  # the dataset's @classLabel order
CACHE = Path(os.environ.get("EDGERNN_DATA_CACHE", Path.home() / ".cache" / "edgernn-data"))
_MEMBER = "aeon/datasets/data/BasicMotions/BasicMotions_{}.ts"


def _wheel() -> Path:
    found = sorted(CACHE.glob("aeon-*.whl"))
    if found:
        return found[-1]
    CACHE.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "aeon", "-d", str(CACHE)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    found = sorted(CACHE.glob("aeon-*.whl"))
    if done.returncode or not found:
        raise RuntimeError(f"could not fetch the aeon wheel for BasicMotions "
                           f"({done.stderr.strip()[-200:]}); run: {' '.join(cmd)}")
    return found[-1]


def parse_ts(text: str) -> tuple[np.ndarray, np.ndarray]:
    """A multivariate, equal-length ``.ts`` file -> (N, T, D) float32, (N,) int64."""
    index = {name.lower(): k for k, name in enumerate(LABELS)}
    body = text.split("@data", 1)[1].split("\n")
    xs, ys = [], []
    for line in body:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        *dims, label = line.split(":")
        xs.append([[float(v) for v in d.split(",")] for d in dims])
        ys.append(index[label.strip().lower()])
    x = np.transpose(np.asarray(xs, dtype=np.float32), (0, 2, 1))  # (N, D, T) -> (N, T, D)
    return np.ascontiguousarray(x), np.asarray(ys, dtype=np.int64)


def load_split(split: str) -> tuple[np.ndarray, np.ndarray]:
    """(N, 100, 6) float32 frames and (N,) int64 class indices into LABELS."""
    with zipfile.ZipFile(_wheel()) as z:
        text = z.read(_MEMBER.format(split.upper())).decode()
    return parse_ts(text)
