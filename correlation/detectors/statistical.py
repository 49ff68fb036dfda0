"""Cheap statistical detectors that run on every point of every series.

``StatisticalDetector`` scores each point three ways and keeps the strongest verdict:

* robust z-score: distance from the rolling median of the last ``window`` points in units of the
  rolling inter-quartile spread (a robust stand-in for MAD that costs one index on a sorted
  window), plus the mean of the last few |z| so a burst of moderately odd points (a variance
  change) counts as much as one wild point;
* EWMA: distance from an exponentially weighted mean in units of the exponentially weighted
  standard deviation;
* seasonal: distance from the hour-of-day / day-of-week baseline learnt for this series.

Each raw statistic goes through its own ``TailCalibrator``: the threshold adapts to the series
(what is extreme for a flat CPU graph is routine for tweet volumes). All baselines forget: the
rolling median absorbs a new level after ``window / 2`` points, the EWMA faster, the seasonal
buckets after a few days, so a deploy that moves a metric alarms once, not forever.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

from .base import PointScore, RollingWindow, SeasonalProfile, TailCalibrator, warming


class StatisticalDetector:
    name = "statistical"

    def __init__(
        self,
        window: int = 256,
        burst: int = 6,
        ewma_alpha: float = 0.05,
        memory: int = 4000,
        min_history: int = 16,
    ):
        self.window = window
        self.burst = burst
        self.ewma_alpha = ewma_alpha
        self.min_history = min_history
        self.n = 0
        self.values = RollingWindow(window)
        self.recent_z: deque[float] = deque(maxlen=burst)
        self.ew_mean = 0.0
        self.ew_var = 0.0
        self.seasonal = SeasonalProfile()
        self.cal_z = TailCalibrator(memory, min_history)
        self.cal_burst = TailCalibrator(memory, min_history)
        self.cal_ewma = TailCalibrator(memory, min_history)
        self.cal_season = TailCalibrator(memory, min_history)

    # -- scoring ----------------------------------------------------------------------------

    def update(self, ts: float, value: float) -> PointScore:
        value = float(value)
        if self.n < self.min_history:
            self._learn(ts, value, None)
            return warming(self.n, self.min_history)

        med, scale = self.values.center_scale()
        z = abs(value - med) / scale
        burst = (sum(self.recent_z) + z) / (len(self.recent_z) + 1)

        ew_sd = math.sqrt(self.ew_var) if self.ew_var > 0 else scale
        ew_sd = max(ew_sd, 0.1 * scale)
        ez = abs(value - self.ew_mean) / ew_sd

        season = self.seasonal.expected(ts)
        if season is not None:
            s_mean, s_dev, _ = season
            sz = abs(value - s_mean) / max(1.25 * s_dev, 0.25 * scale)
        else:
            sz = 0.0

        s_z = self.cal_z.score(z)
        s_burst = self.cal_burst.score(burst)
        s_ewma = self.cal_ewma.score(ez)
        s_season = self.cal_season.score(sz) if season is not None else 0.0
        score = max(s_z, s_burst, s_ewma, s_season)

        # expected range: the rolling median +- the spread this series' |z| usually stays within
        k = self.cal_z.window.quantile(0.99) if len(self.cal_z.window) else 3.0
        result = PointScore(
            score=score,
            expected_low=med - k * scale,
            expected_high=med + k * scale,
            statistic=z,
            details={"robust_z": s_z, "burst": s_burst, "ewma": s_ewma, "seasonal": s_season},
        )
        self._learn(ts, value, (z, burst, ez, sz if season is not None else None))
        return result

    def _learn(self, ts: float, value: float, stats: tuple | None) -> None:
        if stats is not None:
            z, burst, ez, sz = stats
            self.recent_z.append(z)
            self.cal_z.learn(z)
            self.cal_burst.learn(burst)
            self.cal_ewma.learn(ez)
            if sz is not None:
                self.cal_season.learn(sz)
        if self.n == 0:
            self.ew_mean = value
        else:
            a = max(self.ewma_alpha, 1.0 / (self.n + 1))
            diff = value - self.ew_mean
            self.ew_mean += a * diff
            self.ew_var = (1 - a) * (self.ew_var + a * diff * diff)
        self.values.push(value)
        self.seasonal.learn(ts, value)
        self.n += 1

    # -- state ------------------------------------------------------------------------------

    def get_state(self) -> dict[str, Any]:
        return {
            "kind": self.name,
            "params": {"window": self.window, "burst": self.burst, "ewma_alpha": self.ewma_alpha,
                       "min_history": self.min_history, "memory": self.cal_z.window.size},
            "n": self.n,
            "values": self.values.to_list(),
            "recent_z": list(self.recent_z),
            "ew_mean": self.ew_mean,
            "ew_var": self.ew_var,
            "seasonal": self.seasonal.get_state(),
            "cal": {k: getattr(self, "cal_" + k).get_state() for k in ("z", "burst", "ewma", "season")},
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "StatisticalDetector":
        det = cls(**state["params"])
        det.n = int(state["n"])
        det.values = RollingWindow(det.window, state["values"])
        det.recent_z.extend(state["recent_z"])
        det.ew_mean = float(state["ew_mean"])
        det.ew_var = float(state["ew_var"])
        det.seasonal = SeasonalProfile.from_state(state["seasonal"])
        for k, cal in state["cal"].items():
            setattr(det, "cal_" + k, TailCalibrator.from_state(cal))
        return det
