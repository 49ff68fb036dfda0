"""Cheap statistical detectors that run on every point of every series.

``StatisticalDetector`` scores each point three ways and keeps the strongest verdict:

* robust z-score: distance from the rolling median of the last ``window`` points in units of the
  rolling inter-quartile spread (a robust stand-in for MAD that costs one index on a sorted
  window), plus the mean of the last few |z| so a burst of moderately odd points (a variance
  change) counts as much as one wild point;
* EWMA: distance from an exponentially weighted mean in units of the exponentially weighted
  standard deviation;
* seasonal: distance from the time-of-day / day-of-week baseline learnt for this series, for the
  point itself and as the mean signed residual of the last ``season_run`` points, so a whole
  stretch that runs below its usual level (a missing daily peak, a holiday) counts although no
  single point is extreme.

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


CALIBRATED = ("z", "burst", "ewma", "season", "season_run")
#: The calibrators remember this much of the series' own time (4,000 five-minute points, the
#: memory chosen on NAB, re-expressed in time so an hourly series does not compare every
#: statistic with five months of them) ...
MEMORY_SECONDS = 4000 * 300
#: ... and the seasonal views judge after one day of their own statistics (288 five-minute points,
#: 24 hourly ones). Both are set from the interval the warm-up points show.
SEASON_MIN_SECONDS = 86400


class StatisticalDetector:
    name = "statistical"

    def __init__(
        self,
        window: int = 256,
        burst: int = 6,
        ewma_alpha: float = 0.05,
        memory: int = 4000,
        min_history: int = 16,
        season_alpha: float = 0.1,
        season_min_count: int = 7,
        season_run: int = 24,
    ):
        self.window = window
        self.burst = burst
        self.ewma_alpha = ewma_alpha
        self.min_history = min_history
        self.season_run = season_run
        self.n = 0
        self.first_ts = math.nan
        self.memory = memory
        self.values = RollingWindow(window)
        self.recent_z: deque[float] = deque(maxlen=burst)
        self.ew_mean = 0.0
        self.ew_var = 0.0
        # A slow, cautious seasonal baseline: a bucket speaks after a week of samples and then
        # forgets with alpha 0.1. On NAB the quicker (0.25, 3 samples) baseline scored 59.6 in the
        # ensemble and this one 65.3: three samples of a 5-minute slot are mostly noise.
        self.seasonal = SeasonalProfile(alpha=season_alpha, min_count=season_min_count)
        self.recent_resid: deque[float] = deque(maxlen=max(1, season_run - 1))
        self.cal_z = TailCalibrator(memory, min_history)
        self.cal_burst = TailCalibrator(memory, min_history)
        self.cal_ewma = TailCalibrator(memory, min_history)
        # The seasonal views start late (a week in) and judge only after a day of their own
        # statistics: a calibrator that has seen a few dozen residuals calls every other one a record.
        self.cal_season = TailCalibrator(memory, max(min_history, 288))
        self.cal_season_run = TailCalibrator(memory, max(min_history, 288))

    def _fit_to_interval(self, ts: float) -> None:
        """At the end of the warm-up: size the calibrators in the series' own time."""
        interval = (ts - self.first_ts) / max(1, self.n - 1)
        if not interval > 0:
            return
        memory = int(min(self.memory, max(4 * self.min_history, MEMORY_SECONDS / interval)))
        season = int(max(self.min_history, SEASON_MIN_SECONDS / interval))
        for k in ("z", "burst", "ewma"):
            setattr(self, "cal_" + k, TailCalibrator(memory, self.min_history))
        self.cal_season = TailCalibrator(memory, season)
        self.cal_season_run = TailCalibrator(memory, season)

    # -- scoring ----------------------------------------------------------------------------

    def update(self, ts: float, value: float) -> PointScore:
        value = float(value)
        if self.n < self.min_history:
            if self.n == 0:
                self.first_ts = ts
            self._learn(ts, value, None)
            if self.n == self.min_history:
                self._fit_to_interval(ts)
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
            resid = (value - s_mean) / max(1.25 * s_dev, 0.25 * scale)
            sz = abs(resid)
            run = abs(sum(self.recent_resid) + resid) / (len(self.recent_resid) + 1)
            s_season = self.cal_season.score(sz)
            s_run = self.cal_season_run.score(run)
        else:
            resid = sz = run = None
            s_season = s_run = 0.0

        s_z = self.cal_z.score(z)
        s_burst = self.cal_burst.score(burst)
        s_ewma = self.cal_ewma.score(ez)
        score = max(s_z, s_burst, s_ewma, s_season, s_run)

        # expected range: the rolling median +- the spread this series' |z| usually stays within
        k = self.cal_z.window.quantile(0.99) if len(self.cal_z.window) else 3.0
        result = PointScore(
            score=score,
            expected_low=med - k * scale,
            expected_high=med + k * scale,
            statistic=z,
            details={"robust_z": s_z, "burst": s_burst, "ewma": s_ewma, "seasonal": s_season,
                     "seasonal_run": s_run},
        )
        self._learn(ts, value, (z, burst, ez, sz, run, resid))
        return result

    def _learn(self, ts: float, value: float, stats: tuple | None) -> None:
        if stats is not None:
            z, burst, ez, sz, run, resid = stats
            self.recent_z.append(z)
            self.cal_z.learn(z)
            self.cal_burst.learn(burst)
            self.cal_ewma.learn(ez)
            if resid is None:
                self.recent_resid.clear()
            else:
                self.cal_season.learn(sz)
                self.cal_season_run.learn(run)
                self.recent_resid.append(resid)
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
                       "min_history": self.min_history, "memory": self.memory,
                       "season_alpha": self.seasonal.alpha, "season_min_count": self.seasonal.min_count,
                       "season_run": self.season_run},
            "n": self.n,
            "first_ts": self.first_ts,
            "values": self.values.to_array(),
            "recent_z": list(self.recent_z),
            "recent_resid": list(self.recent_resid),
            "ew_mean": self.ew_mean,
            "ew_var": self.ew_var,
            "seasonal": self.seasonal.get_state(),
            "cal": {k: getattr(self, "cal_" + k).get_state() for k in CALIBRATED},
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "StatisticalDetector":
        det = cls(**state["params"])
        det.n = int(state["n"])
        det.first_ts = float(state["first_ts"])
        det.values = RollingWindow(det.window, state["values"])
        det.recent_z.extend(state["recent_z"])
        det.recent_resid.extend(state.get("recent_resid", ()))
        det.ew_mean = float(state["ew_mean"])
        det.ew_var = float(state["ew_var"])
        det.seasonal = SeasonalProfile.from_state(state["seasonal"])
        for k, cal in state["cal"].items():
            setattr(det, "cal_" + k, TailCalibrator.from_state(cal))
        return det
