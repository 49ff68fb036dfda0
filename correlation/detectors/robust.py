"""Robust z-scores on a fixed scale: distance from the series' typical level in units of its
typical spread, without any calibration against the series' own history of scores.

The calibrated detectors (``TailCalibrator``) alarm on *records*: a statistic beyond everything
in recent memory. That holds well where anomalies are rare (NAB), and misses the second, third
... anomaly of a similar size in telemetry where they are frequent (crash rates, API latency).
This detector answers on a fixed scale instead: ``score = z / (1 + z)``, so one threshold means
one z for every series.

* level: the median of the previous ``window`` points and their inter-quartile spread (robust:
  earlier anomalies do not inflate it, as they do a mean and a standard deviation);
* counts near zero (a series whose values so far are all non-negative integers: crashes,
  purchases, errors): the spread is at least ``sqrt(max(median, 1))``, a Poisson standard
  deviation, so a 1 after a run of 0s is not a hundred sigmas;
* gated (``RobustGatedDetector``): a z below the 98th percentile of the series' own recent z's
  scores half, so a series that is always wild (tweet volumes) does not alarm on every burst;
* seasonal (``RobustSeasonalDetector``): once the series' time-of-day / day-of-week baseline
  (``SeasonalProfile``, buckets aligned on the clock at the series' own interval) has learnt,
  the residual from it, in units of the residuals' own robust spread, replaces the level;
* daily (``RobustDailyDetector``): the level window spans at least a day of the series' own time
  (at most 2,000 points), sized from the interval its warm-up points show: 200 five-minute points
  are 17 hours, so a daily swing looks like a change of level, while 200 hourly points are 8 days.

Warm-up is ``min_history`` points of the series itself.
"""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import Any

import numpy as np

from .base import PointScore, RollingWindow, SeasonalProfile, warming

_NORMAL = NormalDist()


class RobustDetector:
    name = "robust"
    seasonal_view = False

    gate = 0.0
    #: daily variant: the level window covers at least this much of the series' time (0: points only)
    window_seconds = 0
    max_window = 2000

    def __init__(self, window: int = 200, min_history: int = 20, season_min_count: int = 3, memory: int = 2000):
        self.window = window
        self.first_ts = math.nan
        # gated variants: a z below the ``gate`` quantile of this series' own recent z's counts half
        self.zs = RollingWindow(memory, typecode="f") if self.gate else None
        self.min_history = min_history
        self.values = RollingWindow(window)
        self.counts = True  # every value so far a non-negative integer
        self.n = 0
        self.seasonal = SeasonalProfile(alpha=0.1, min_count=season_min_count) if self.seasonal_view else None
        self.resid = RollingWindow(window) if self.seasonal_view else None

    def _spread(self, win: RollingWindow, med: float) -> float:
        s = win.sorted
        spread = (win.quantile(0.75) - win.quantile(0.25)) / 1.349
        floor = max(0.01 * (s[-1] - s[0]), 1e-6 * abs(med), 1e-9)
        if self.counts:
            floor = max(floor, math.sqrt(max(abs(med), 1.0)))
        return max(spread, floor)

    def _fit_window(self, ts: float) -> None:
        """At the end of the warm-up: widen the level window to ``window_seconds`` of this series."""
        interval = (ts - self.first_ts) / self.n
        if interval > 0:
            size = int(min(self.max_window, max(self.window, math.ceil(self.window_seconds / interval))))
            if size != self.window:
                self.window = size
                self.values = RollingWindow(size, self.values.to_array())

    def update(self, ts: float, value: float) -> PointScore:
        value = float(value)
        if self.n == 0:
            self.first_ts = ts
        elif self.window_seconds and self.n == self.min_history:
            self._fit_window(ts)
        result = None
        season = self.seasonal.expected(ts) if self.seasonal is not None else None
        resid = None if season is None else value - season[0]
        if self.n >= self.min_history:
            med = self.values.quantile(0.5)
            scale = self._spread(self.values, med)
            z = abs(value - med) / scale
            if resid is not None and len(self.resid) >= self.min_history:
                rmed = self.resid.quantile(0.5)
                z = abs(resid - rmed) / self._spread(self.resid, rmed)
            score = z / (1.0 + z)
            if self.zs is not None:
                if len(self.zs) >= self.min_history and self.zs.rank(z) < self.gate:
                    score *= 0.5
                self.zs.push(z)
            result = PointScore(score=score, statistic=z, expected_low=med - 4 * scale,
                                expected_high=med + 4 * scale)
        self.values.push(value)
        if self.counts and not (value >= 0 and value == int(value)):
            self.counts = False
        if self.seasonal is not None:
            if resid is not None:
                self.resid.push(resid)
            self.seasonal.learn(ts, value)
        self.n += 1
        return result if result is not None else warming(self.n - 1, self.min_history)

    def get_state(self) -> dict[str, Any]:
        state = {"kind": self.name, "window": self.window, "min_history": self.min_history, "n": self.n,
                 "first_ts": self.first_ts, "counts": self.counts, "values": self.values.to_array()}
        if self.zs is not None:
            state["zs"] = self.zs.to_array()
        if self.seasonal is not None:
            state.update(seasonal=self.seasonal.get_state(), resid=self.resid.to_array())
        return state

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "RobustDetector":
        det = cls(int(state["window"]), int(state["min_history"]))
        det.n = int(state["n"])
        det.first_ts = float(state.get("first_ts", math.nan))
        det.counts = bool(state["counts"])
        det.values = RollingWindow(det.window, state["values"])
        if det.zs is not None:
            det.zs = RollingWindow(det.zs.size, state["zs"], typecode="f")
        if det.seasonal is not None:
            det.seasonal = SeasonalProfile.from_state(state["seasonal"])
            det.resid = RollingWindow(det.window, state["resid"])
        return det


class RobustSeasonalDetector(RobustDetector):
    name = "robust_seasonal"
    seasonal_view = True


class RobustGatedDetector(RobustDetector):
    """The level view, a z counting only when it is also in the top 2% of the series' own z's."""

    name = "robust_gated"
    gate = 0.98


class RobustDailyDetector(RobustDetector):
    """The level view over at least a day of the series' own time (see the module docstring)."""

    name = "robust_daily"
    window_seconds = 86400


class RobustShiftDetector(RobustDailyDetector):
    """The daily level view with a level-shift absorber: once ``confirm`` points in a row have
    stood at least ``shift_z`` robust z's off the level on the same side, the shift is taken as
    the new normal: the older points of the level window move by the difference between the
    run's median and theirs, keeping their spread, so the window's median is the new level at
    once instead of after half a window (half a day and more) of alarms.

    A priori constants (z 3, 12 points: an hour of a five-minute series), not tuned.
    """

    name = "robust_shift"
    shift_z = 3.0
    confirm = 12

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.run: list[float] = []  # the current run of points off the level on one side
        self.side = 0

    def update(self, ts: float, value: float) -> PointScore:
        med = self.values.quantile(0.5) if self.n >= self.min_history else math.nan
        result = super().update(ts, value)
        if result.warming_up:
            return result
        value = float(value)
        side = (value > med) - (value < med) if result.statistic >= self.shift_z else 0
        if side and side == self.side:
            self.run.append(value)
        else:
            self.run, self.side = ([value], side) if side else ([], 0)
        if len(self.run) >= self.confirm and len(self.run) < len(self.values):
            arr = self.values.to_array()
            k = len(self.run)
            old = arr[:-k]
            arr[:-k] = old + (sorted(self.run)[k // 2] - float(np.median(old)))
            self.values = RollingWindow(self.window, arr)
            self.run, self.side = [], 0
        return result

    def get_state(self) -> dict[str, Any]:
        return {**super().get_state(), "run": list(self.run), "side": self.side}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "RobustShiftDetector":
        det = super().from_state(state)
        det.run = [float(v) for v in state.get("run", ())]
        det.side = int(state.get("side", 0))
        return det


class RobustPoissonDetector(RobustDailyDetector):
    """The daily level view, with counts near zero judged as counts: for a series whose values
    so far are all non-negative integers and whose level window averages at most ``max_rate``,
    the z is the normal quantile of the Poisson tail probability of the value at the window's
    mean rate (two-sided: a count too high or too low), instead of distance over spread. A 3
    after a day of 0s and 1s is then as surprising as its probability says, not as a robust
    spread floored at 1 says.

    A priori constant (rate 50, above which a Poisson law is close to the normal one), not tuned.
    """

    name = "robust_poisson"
    max_rate = 50.0

    def update(self, ts: float, value: float) -> PointScore:
        result = super().update(ts, value)
        if result.warming_up or not self.counts:
            return result
        win = self.values
        # the rate of the window before this point (the point itself was pushed last)
        arr = win.to_array()[:-1]
        rate = (float(arr.sum()) + 0.5) / (len(arr) + 1)
        if rate > self.max_rate:
            return result
        z = poisson_z(float(value), rate)
        result.score, result.statistic = z / (1.0 + z), z
        return result


def poisson_z(x: float, rate: float) -> float:
    """The standard normal quantile of the smaller Poisson(``rate``) tail at ``x`` (0 when ``x``
    is within the central half of the law)."""
    k = int(x)
    if k > rate:
        log_p = _log_tail(k, rate, upper=True)
    elif k < rate:
        log_p = _log_tail(k, rate, upper=False)
    else:
        return 0.0
    if log_p >= math.log(0.5):
        return 0.0
    if log_p > -700:
        return -_NORMAL.inv_cdf(max(math.exp(log_p), 1e-300))
    # beyond double precision: the tail's asymptote, z ~ sqrt(-2 ln p - ln(-2 ln p) - ln 2 pi)
    t = -2.0 * log_p
    return math.sqrt(t - math.log(t) - math.log(2 * math.pi))


def _log_tail(k: int, rate: float, upper: bool) -> float:
    """log P(X >= k) (upper) or log P(X <= k) of a Poisson(rate) law, summed in log space."""
    lr = math.log(rate)
    if upper:
        terms = []
        j = k
        while True:
            t = j * lr - rate - math.lgamma(j + 1)
            terms.append(t)
            if j > rate and t < terms[0] - 40:
                break
            j += 1
    else:
        terms = [j * lr - rate - math.lgamma(j + 1) for j in range(k + 1)]
    top = max(terms)
    return top + math.log(sum(math.exp(t - top) for t in terms))
