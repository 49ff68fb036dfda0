"""The plain running z-score: the baseline every benchmark table carries.

The score of a point is ``z / (1 + z)`` with ``z = |value - mean| / std`` of the previous
``window`` points (200), so it is monotone in z and in [0, 1). Nothing else: no seasonality, no
calibration, no memory beyond the window. A detector that cannot beat this on a dataset has no
business being there.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

from .base import PointScore, warming


class ZScoreDetector:
    name = "zscore"

    def __init__(self, window: int = 200, min_history: int = 20):
        self.window = window
        self.min_history = min_history
        self.values: deque[float] = deque(maxlen=window)
        self.total = 0.0
        self.total_sq = 0.0
        self.n = 0

    def update(self, ts: float, value: float) -> PointScore:
        value = float(value)
        k = len(self.values)
        result = None
        if k >= self.min_history:
            mean = self.total / k
            var = max(self.total_sq / k - mean * mean, 0.0)
            sd = math.sqrt(var)
            diff = abs(value - mean)
            z = diff / sd if sd > 1e-12 * max(1.0, abs(mean)) else (0.0 if diff == 0 else 1e6)
            result = PointScore(score=z / (1.0 + z), statistic=z, expected_low=mean - 3 * sd,
                                expected_high=mean + 3 * sd)
        if k == self.window:
            old = self.values[0]
            self.total -= old
            self.total_sq -= old * old
        self.values.append(value)
        self.total += value
        self.total_sq += value * value
        self.n += 1
        if self.n % self.window == 0:  # re-sum now and then: running sums drift
            self.total = math.fsum(self.values)
            self.total_sq = math.fsum(v * v for v in self.values)
        return result if result is not None else warming(k, self.min_history)

    def get_state(self) -> dict[str, Any]:
        return {"kind": self.name, "window": self.window, "min_history": self.min_history,
                "values": list(self.values), "n": self.n, "sums": (self.total, self.total_sq)}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "ZScoreDetector":
        det = cls(int(state["window"]), int(state["min_history"]))
        det.n = int(state["n"])
        det.values.extend(float(v) for v in state["values"])
        det.total, det.total_sq = (float(x) for x in state["sums"])
        return det
