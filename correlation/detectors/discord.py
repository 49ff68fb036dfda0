"""Matrix-profile discords, streaming: how unlike anything in the series' recent past is the shape
of its newest ``m`` points?

The left matrix profile of a subsequence is the z-normalised Euclidean distance to its nearest
neighbour among the subsequences *before* it (Yeh et al. 2016; STUMPY's ``stumpi`` keeps it as
``left_P_``). A discord is a subsequence whose nearest neighbour is far: a shape the series has
not drawn before, whatever its level. Here the newest subsequence is compared with the last
``history`` ones (a bounded memory, like ``stumpi(..., egress=True)``), excluding the trivial
matches that start within ``ceil(m / 4)`` points of it (STUMPY's exclusion zone), and:

* two constant subsequences are at distance 0, a constant and a varying one at ``sqrt(m)``
  (STUMPY's convention), so a flat series does not divide by zero;
* the distance is scored by a ``TailCalibrator`` against the series' own recent distances (a
  discord is a record distance), as the statistical detector scores its statistics.

One distance profile per point is a (history x m) product, numpy only: about 0.1 ms a point
(10,203 points/s of CPU in ``bench/anomaly.py``); no numba, so nothing is compiled when a process
starts. STUMPY itself (numba) took 20 s to compile its first ``stumpi`` and 0.5 ms of wall clock
per update with egress, 2,000 points/s (``bench/README.md``). ``bench/anomaly.py --check-discord``
compares this profile with ``stumpy.stumpi``'s where STUMPY is installed.

The constants (m = 16, history 1,000 subsequences, judged from 256) were set before any run of
the benchmark, not tuned (the 256 after a synthetic test, see ``update``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .base import PointScore, TailCalibrator, warming

#: a subsequence whose standard deviation is below this (relative to its mean's size) is constant
_FLAT = 1e-8


def left_distance(buf: np.ndarray, m: int, excl: int) -> float:
    """z-normalised distance from the last ``m`` values of ``buf`` to their nearest neighbour among
    the earlier subsequences of ``buf`` that start more than ``excl`` points before them."""
    subs = sliding_window_view(buf, m)[: len(buf) - m - excl]
    if not len(subs):
        return math.nan
    q = buf[-m:]
    mu_q, sd_q = q.mean(), q.std()
    mu, sd = subs.mean(axis=1), subs.std(axis=1)
    flat_q = sd_q <= _FLAT * max(1.0, abs(mu_q))
    flat = sd <= _FLAT * np.maximum(1.0, np.abs(mu))
    if flat_q:
        return 0.0 if flat.any() else math.sqrt(m)
    qt = subs @ q
    with np.errstate(divide="ignore", invalid="ignore"):
        corr = (qt - m * mu * mu_q) / (m * sd * sd_q)
    corr = np.where(flat, np.nan, np.clip(corr, -1.0, 1.0))
    best = np.nanmax(corr) if not flat.all() else -np.inf
    d = math.sqrt(max(2.0 * m * (1.0 - best), 0.0)) if best > -np.inf else math.inf
    return min(d, math.sqrt(m)) if flat.any() else d


class DiscordDetector:
    name = "discord"

    def __init__(self, m: int = 16, history: int = 1000, memory: int = 2000, min_history: int = 64,
                 min_neighbours: int = 256):
        self.m = m
        self.min_neighbours = min_neighbours
        self.history = history
        self.excl = math.ceil(m / 4)
        self.size = history + m + self.excl
        self.buf = np.empty(0)
        self.n = 0
        self.cal = TailCalibrator(memory, min_history)

    def update(self, ts: float, value: float) -> PointScore:
        buf = self.buf
        if len(buf) < self.size:
            buf = np.append(buf, float(value))
        else:
            buf[:-1] = buf[1:]
            buf[-1] = float(value)
        self.buf = buf
        self.n += 1
        # judged once there are ``min_neighbours`` earlier subsequences to compare with: with a few
        # dozen, every shape is far from all of them, and those cold-start distances would stand
        # as records in the calibrator's memory long after (a sine of period 48 drew distances
        # of 5-6 in its first 50 points, 1.6 at most after 100)
        if len(buf) < self.m + self.excl + self.min_neighbours:
            return warming(self.n - 1, self.m + self.excl + self.min_neighbours)
        d = left_distance(buf, self.m, self.excl)
        score = self.cal.score(d)
        self.cal.learn(d)
        if not self.cal.ready():
            return PointScore(score=0.0, warming_up=True, statistic=d)
        return PointScore(score=score, statistic=d)

    def get_state(self) -> dict[str, Any]:
        return {"kind": self.name, "m": self.m, "history": self.history, "n": self.n, "min_neighbours": self.min_neighbours,
                "buf": self.buf.copy(), "cal": self.cal.get_state()}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "DiscordDetector":
        cal = state["cal"]
        det = cls(int(state["m"]), int(state["history"]), int(cal["memory"]), int(cal["min_history"]),
                  int(state["min_neighbours"]))
        det.n = int(state["n"])
        det.buf = np.asarray(state["buf"], dtype=float).copy()
        det.cal = TailCalibrator.from_state(cal)
        return det
