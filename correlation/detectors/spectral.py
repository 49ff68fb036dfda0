"""Spectral residual (Ren et al., "Time-Series Anomaly Detection Service at Microsoft", KDD 2019),
streaming: each point is judged on the window of the ``window`` points that end with it.

For the window x (with ``extend`` estimated points appended, as the reference implementation does, so the newest real point is not at
the edge of the transform): A = |FFT(x)|, L = log A, R = L - moving_average(L, ``q``), and the
saliency map S = |IFFT(exp(R + i * phase))|. The spectral residual keeps what the series' usual
spectrum does not explain, so S peaks where the series does something it does not usually do:
spikes, dips, sudden level changes. A point's statistic is its saliency relative to the mean
saliency of the ``z`` points before it in the same window, ``r = (S_n - mean) / mean``; the paper
alarms at r > 3. The score is on a fixed scale, ``r / (1 + r)`` (0.75 at the paper's threshold),
like the robust detectors, so it needs no history of its own scores.

Pure numpy, no Django (a detector of ``correlation/detectors``).
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

import numpy as np

from .base import PointScore, warming


def saliency(x: np.ndarray, q: int = 3) -> np.ndarray:
    """The spectral residual saliency map of ``x``."""
    spectrum = np.fft.fft(x)
    amplitude = np.abs(spectrum)
    amplitude[amplitude < 1e-12] = 1e-12
    log_amp = np.log(amplitude)
    kernel = np.ones(q) / q
    # moving average with the edges padded by their own values, so the map has no edge artefacts
    padded = np.concatenate([np.full(q // 2, log_amp[0]), log_amp, np.full(q - 1 - q // 2, log_amp[-1])])
    residual = log_amp - np.convolve(padded, kernel, mode="valid")
    return np.abs(np.fft.ifft(np.exp(residual + 1j * np.angle(spectrum))))


def extended(x: np.ndarray, m: int, look_ahead: int = 5) -> np.ndarray:
    """``x`` with ``m`` copies of an estimated next point appended: the point before the last plus
    the average slope towards it over the ``look_ahead`` points before (the reference
    implementation's ``extend_series``; the newest point itself is left out of the estimate, or a
    spike would predict itself and vanish from the map)."""
    ref = x[-look_ahead - 2:-1]
    if len(ref) < 2:
        return np.concatenate([x, np.full(m, x[-1])])
    last = ref[-1]
    n = len(ref)
    slopes = [(last - v) / (n - 1 - i) for i, v in enumerate(ref[:-1])]
    return np.concatenate([x, np.full(m, ref[1] + sum(slopes))])


class SpectralResidualDetector:
    name = "spectral"

    def __init__(self, window: int = 64, extend: int = 5, q: int = 3, z: int = 21, min_history: int = 32):
        self.window, self.extend, self.q, self.z, self.min_history = window, extend, q, z, min_history
        self.values: deque[float] = deque(maxlen=window)
        self.n = 0

    def update(self, ts: float, value: float) -> PointScore:
        self.values.append(float(value))
        self.n += 1
        if self.n <= self.min_history:
            return warming(self.n - 1, self.min_history)
        x = np.fromiter(self.values, float, len(self.values))
        if not np.any(x - x[0]):
            return PointScore(score=0.0, statistic=0.0)
        s = saliency(extended(x, self.extend), self.q)
        last = len(x) - 1
        ref = s[max(0, last - self.z):last].mean()
        r = (s[last] - ref) / ref if ref > 1e-12 else 0.0
        r = max(r, 0.0)
        if not math.isfinite(r):
            r = 0.0
        return PointScore(score=r / (1.0 + r), statistic=r)

    def get_state(self) -> dict[str, Any]:
        return {"kind": self.name, "window": self.window, "extend": self.extend, "q": self.q, "z": self.z,
                "min_history": self.min_history, "n": self.n, "values": list(self.values)}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "SpectralResidualDetector":
        det = cls(int(state["window"]), int(state["extend"]), int(state["q"]), int(state["z"]), int(state["min_history"]))
        det.values.extend(float(v) for v in state["values"])
        det.n = int(state["n"])
        return det
