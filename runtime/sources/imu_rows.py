"""Decoded IMU rows -> evenly spaced samples: column choice, checks, time-column resampling.

Without a time column a row *is* a sample: the n-th good row is at stream time
``n / rate`` however fast or irregularly the rows arrive (the wall clock is
never used).  With a time column, the values are linearly interpolated onto the
grid ``t0 + k / rate`` (``t0`` = the first row's time); grid point ``k`` is
emitted once a row at or after its time has arrived.  A row whose time does
not increase is malformed (skipped).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


class TimeGrid:
    """Streaming linear interpolation of (t, v) rows onto ``t0 + k/rate``."""

    def __init__(self, rate: float):
        self.rate = float(rate)
        self.t0: float | None = None
        self.k = 0                   # next grid index
        self._t: float | None = None  # last row's time and values
        self._v: np.ndarray | None = None

    def push(self, t: np.ndarray, v: np.ndarray) -> np.ndarray:
        """t f64[n] strictly increasing (and after earlier rows), v f64[n, C] -> f32[m, C]."""
        if len(t) == 0:
            return np.empty((0, v.shape[1]), np.float32)
        if self.t0 is None:
            self.t0, self._t, self._v = float(t[0]), float(t[0]), v[0]
        tt = np.concatenate([[self._t], t])
        vv = np.concatenate([self._v[None, :], v])
        last = int(np.floor((tt[-1] - self.t0) * self.rate))
        while last >= 0 and self.t0 + last / self.rate > tt[-1]:
            last -= 1
        grid = self.t0 + np.arange(self.k, last + 1) / self.rate
        out = np.empty((len(grid), v.shape[1]), np.float32)
        for c in range(v.shape[1]):
            out[:, c] = np.interp(grid, tt, vv[:, c])
        self.k = max(self.k, last + 1)
        self._t, self._v = float(t[-1]), v[-1]
        return out


class RowAssembler:
    """Rows (lists of floats) -> (f32[n, channels] samples, malformed count).

    ``columns``: the value columns (indices; None: every column but the time
    column); ``time_column``: index of the time column or None; ``time_unit``:
    seconds per unit of it (0.001 for Arduino ``millis()``); ``channels``: the
    expected number of values (None: taken from the first good row).  A row
    whose width differs from the first good row's is malformed.
    """

    def __init__(self, rate: float, channels: int | None = None,
                 columns: Sequence[int] | None = None, time_column: int | None = None,
                 time_unit: float = 1.0):
        self.columns = None if columns is None else list(columns)
        self.time_column = time_column
        self.time_unit = float(time_unit)
        self.channels = channels
        self.width: int | None = None
        self.grid = None if time_column is None else TimeGrid(rate)
        self._last_t = -np.inf

    def _pick(self, row: list[float]) -> list[float] | None:
        """The value columns of a row, or None if it does not fit the first good row."""
        if self.width is not None and len(row) != self.width:
            return None
        needed = max([*(self.columns or []), self.time_column or 0])
        if len(row) <= needed:
            return None
        if self.columns is not None:
            values = [row[i] for i in self.columns]
        else:
            values = [v for i, v in enumerate(row) if i != self.time_column]
        if self.channels is not None and len(values) != self.channels:
            return None
        self.channels, self.width = len(values), len(row)
        return values

    def add(self, rows: list[list[float]]) -> tuple[np.ndarray, int]:
        good, times, bad = [], [], 0
        for row in rows:
            values = self._pick(row)
            if values is not None and self.grid is not None:
                t = row[self.time_column] * self.time_unit
                if t <= self._last_t:
                    values = None
                else:
                    self._last_t = t
                    times.append(t)
            if values is None:
                bad += 1
            else:
                good.append(values)
        if not good:
            return np.empty((0, self.channels or 0), np.float32), bad
        v = np.asarray(good, np.float64)
        if self.grid is None:
            return v.astype(np.float32), bad
        return self.grid.push(np.asarray(times, np.float64), v), bad
