"""Relative entropy with multiple hypotheses (Wang et al., "Statistical techniques for online
anomaly detection in data centers", IM 2011), as NAB's ``relativeEntropy`` detector runs it.

The values of the last ``window`` points are quantised into ``bins`` equal bins and their
histogram ``P_hat`` is tested against every distribution seen before (the hypotheses): the
statistic ``2 W KL(P_hat || P_i)`` follows a chi-squared law with ``bins - 1`` degrees of freedom
when ``P_i`` is true, so ``P_i`` is accepted below its 0.99 quantile. The closest accepted
hypothesis counts one more window; a window that agrees with none becomes a new hypothesis and is
an anomaly, and so is one whose hypothesis has been seen at most ``c_th`` times. The score is
binary (0 or 1), as in NAB.

One change makes it causal: NAB quantises on the minimum and maximum of the whole file, which a
live series does not know. Here the bins span the minimum and maximum seen so far; each
hypothesis keeps the window it was made from, so when a new extreme widens the range every
hypothesis is binned anew (a window with the new extreme then agrees with none of them: an
alarm, as NAB's fixed bins would give). At most ``MAX_HYPOTHESES`` are kept (NAB keeps all), the
oldest dropped first, so a live series' state stays bounded.

NAB's constants (5 bins, a window of 52, the 0.99 quantile, c_th = 1), not tuned here.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

import numpy as np

from .base import PointScore, warming

#: chi-squared 0.99 quantile with 4 degrees of freedom (scipy.stats.chi2.isf(0.01, 4)); the
#: constructor checks ``bins`` is 5, NAB's, rather than importing scipy into every process
CHI2_99_4DF = 13.276704135987622
MAX_HYPOTHESES = 200


class RelativeEntropyDetector:
    name = "relentropy"

    def __init__(self, window: int = 52, bins: int = 5, c_th: int = 1):
        if bins != 5:
            raise ValueError("the chi-squared threshold is tabulated for 5 bins (NAB's)")
        self.window, self.bins, self.c_th = window, bins, c_th
        self.threshold = CHI2_99_4DF
        self.values: deque[float] = deque(maxlen=window)
        self.lo = math.inf
        self.hi = -math.inf
        self.raw = np.empty((0, window))  # the window each hypothesis was made from
        self.hyp = np.empty((0, bins))  # its histogram under the current bins
        self.counts: list[int] = []
        self.n = 0

    def _histograms(self, rows: np.ndarray) -> np.ndarray:
        """Empirical frequencies of each row of windows under the current bins."""
        step = (self.hi - self.lo) / self.bins
        # NAB's quantisation: ceil((v - min) / step), the minimum itself in bin 0 ...
        b = np.clip(np.ceil((rows - self.lo) / step), 0, self.bins)
        # ... and numpy.histogram(range=(0, bins)) puts the top edge (index bins) in the last bin
        b = np.minimum(b, self.bins - 1)
        counts = (b[..., None] == np.arange(self.bins)).sum(axis=-2)
        return counts / rows.shape[-1]

    def update(self, ts: float, value: float) -> PointScore:
        value = float(value)
        self.values.append(value)
        self.n += 1
        widened = value < self.lo or value > self.hi
        self.lo, self.hi = min(self.lo, value), max(self.hi, value)
        if self.n < self.window:
            return warming(self.n - 1, self.window)
        if self.hi == self.lo:  # NAB: a flat series is never anomalous
            return PointScore(score=0.0)
        if widened and len(self.counts):
            self.hyp = self._histograms(self.raw)
        window = np.fromiter(self.values, float, self.window)
        p_hat = self._histograms(window)
        if not len(self.counts):
            self.raw, self.hyp, self.counts = window[None, :], p_hat[None, :], [1]
            return PointScore(score=0.0)
        stat = self._statistics(p_hat)
        ok = stat < self.threshold
        if ok.any():
            i = int(np.argmin(np.where(ok, stat, np.inf)))
            self.counts[i] += 1
            anomalous = self.counts[i] <= self.c_th
            best = float(stat[i])
        else:
            anomalous = True
            best = float(stat.min())
            self.raw = np.vstack([self.raw, window])[-MAX_HYPOTHESES:]
            self.hyp = np.vstack([self.hyp, p_hat])[-MAX_HYPOTHESES:]
            self.counts = [*self.counts, 1][-MAX_HYPOTHESES:]
        return PointScore(score=1.0 if anomalous else 0.0, statistic=best)

    def _statistics(self, p_hat: np.ndarray) -> np.ndarray:
        """``2 W KL(p_hat || P_i)`` for every hypothesis (scipy.stats.entropy's conventions: 0 where
        p_hat is 0, infinite where p_hat > 0 and P_i is 0)."""
        nz = p_hat > 0
        p = p_hat[nz]
        q = self.hyp[:, nz]
        with np.errstate(divide="ignore"):
            kl = (p * (np.log(p) - np.log(q))).sum(axis=1)
        return 2.0 * self.window * kl

    def get_state(self) -> dict[str, Any]:
        return {"kind": self.name, "window": self.window, "bins": self.bins, "c_th": self.c_th, "n": self.n,
                "values": list(self.values), "range": (self.lo, self.hi), "raw": self.raw.copy(),
                "counts": list(self.counts)}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "RelativeEntropyDetector":
        det = cls(int(state["window"]), int(state["bins"]), int(state["c_th"]))
        det.n = int(state["n"])
        det.values.extend(float(v) for v in state["values"])
        det.lo, det.hi = (float(x) for x in state["range"])
        det.raw = np.asarray(state["raw"], dtype=float).reshape(-1, det.window).copy()
        det.hyp = det._histograms(det.raw) if len(det.raw) and det.hi > det.lo else np.empty((0, det.bins))
        det.counts = [int(c) for c in state["counts"]]
        return det
