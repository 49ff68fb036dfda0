"""Streaming detector protocol and the small building blocks the detectors share.

Every detector scores one series (service, metric, host) point by point and is causal: the score
of a point depends only on that point and the ones before it. A detector's whole memory is a dict
of plain numbers, lists and numpy arrays (``get_state``), so the ingest pipeline can keep it in a
database row between requests and ``from_state`` continues exactly where it stopped.

Scores are in [0, 1] and mean "how surprising is this point *for this series*": each detector
turns its raw statistic into a score with a ``TailCalibrator`` that compares the statistic with the
series' own recent history of that statistic (an estimated tail probability on a log scale). Pure Python on scalars: on one point at a time this
is several times faster than numpy calls on tiny arrays, which matters because every point of every
series passes through here.
"""

from __future__ import annotations

import math
from bisect import bisect_left, insort
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Protocol, runtime_checkable

import numpy as np

@dataclass(slots=True)
class PointScore:
    """The verdict on one point.

    ``score`` is in [0, 1]. ``expected_low``/``expected_high`` is the range the detector expected
    the value in (NaN while warming up), ``statistic`` the raw statistic before calibration (a
    z-like number, an isolation depth, a forecast error ...), and ``details`` any extra evidence.
    """

    score: float
    warming_up: bool = False
    expected_low: float = math.nan
    expected_high: float = math.nan
    statistic: float = 0.0
    is_anomaly: bool = False
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "score": self.score,
            "warming_up": self.warming_up,
            "expected_low": None if math.isnan(self.expected_low) else self.expected_low,
            "expected_high": None if math.isnan(self.expected_high) else self.expected_high,
            "statistic": self.statistic,
            "is_anomaly": self.is_anomaly,
            "details": self.details,
        }


def warming(points_seen: int, needed: int) -> PointScore:
    """The answer for a series that has not seen enough points to judge yet."""
    return PointScore(score=0.0, warming_up=True, details={"points_seen": points_seen, "needed": needed})


@runtime_checkable
class StreamingDetector(Protocol):
    """One series, one instance, points in time order."""

    name: str

    def update(self, ts: float, value: float) -> PointScore:
        """Score ``value`` observed at ``ts`` (epoch seconds), then learn from it."""

    def get_state(self) -> dict[str, Any]:
        """Everything needed to continue later: plain numbers, lists, numpy arrays, bytes."""

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "StreamingDetector":
        """Rebuild a detector that scores the following points exactly as this one would."""


def score_series(
    detector_factory: Callable[[], StreamingDetector],
    timestamps: Iterable[float],
    values: Iterable[float],
) -> np.ndarray:
    """Scores of a whole series from a cold start, for offline runs (benchmarks, backfills).

    Streaming and batch must agree, so this simply feeds the detector point by point; the
    detectors keep that cheap. Timestamps may be epoch seconds or anything numpy turns into
    ``datetime64`` (converted to seconds).
    """
    ts = _as_epoch_seconds(timestamps)
    vals = np.asarray(values, dtype=float)
    if ts.shape != vals.shape:
        raise ValueError("timestamps and values differ in length")
    det = detector_factory()
    update = det.update
    out = np.empty(len(vals), dtype=float)
    for i, (t, v) in enumerate(zip(ts.tolist(), vals.tolist())):
        out[i] = update(t, v).score
    return out


def _as_epoch_seconds(timestamps: Iterable[Any]) -> np.ndarray:
    arr = np.asarray(list(timestamps) if not isinstance(timestamps, np.ndarray) else timestamps)
    if arr.dtype.kind in "iuf":
        return arr.astype(float)
    return arr.astype("datetime64[ns]").astype("int64") / 1e9


# --- building blocks --------------------------------------------------------------------------


class RollingWindow:
    """The last ``size`` values, also kept sorted so quantiles cost one index.

    ``insort`` and ``list.remove`` move memory in C; for a few hundred to a few thousand floats
    that is far cheaper per point than re-sorting or calling numpy.
    """

    __slots__ = ("size", "fifo", "sorted")

    def __init__(self, size: int, values: Iterable[float] = ()):
        self.size = size
        self.fifo: deque[float] = deque()
        self.sorted: list[float] = []
        for v in values:
            self.push(v)

    def __len__(self) -> int:
        return len(self.fifo)

    def push(self, value: float) -> None:
        self.fifo.append(value)
        insort(self.sorted, value)
        if len(self.fifo) > self.size:
            old = self.fifo.popleft()
            del self.sorted[bisect_left(self.sorted, old)]

    def quantile(self, q: float) -> float:
        s = self.sorted
        return s[min(len(s) - 1, int(q * len(s)))]

    def rank(self, value: float) -> float:
        """Share of the window strictly below ``value``."""
        return bisect_left(self.sorted, value) / len(self.sorted)

    def to_list(self) -> list[float]:
        return list(self.fifo)


class TailCalibrator:
    """Turns a raw "bigger is stranger" statistic into a score in [0, 1] for this series.

    The statistic is compared with the last ``memory`` statistics of the same series, and the
    score is its estimated tail probability p on a log scale: ``score = min(1, -log10(p) / DECADES)``.
    Inside the bulk, p is the empirical share of remembered statistics at least as large; in the
    tail (the top ``tail`` share of the memory) an exponential tail is fitted to the excesses over
    the tail's threshold, as in peaks-over-threshold detectors (SPOT, Siffer et al., KDD 2017), so
    a point far beyond anything seen gets a far smaller p than one that just beats the record.
    A series whose statistic is always wild (tweets) therefore only alarms on a new extreme and a
    calm one on a modest departure, without a threshold per series, and a young series (short
    memory) cannot reach tiny p-values on a small lead.
    """

    __slots__ = ("window", "min_history", "tail")

    DECADES = 5.0  # p = 1e-5 and below scores 1

    def __init__(self, memory: int, min_history: int, tail: float = 0.02):
        self.window = RollingWindow(memory)
        self.min_history = min_history
        self.tail = tail

    def ready(self) -> bool:
        return len(self.window) >= self.min_history

    def pvalue(self, stat: float) -> float:
        srt = self.window.sorted
        n = len(srt)
        k = max(5, int(self.tail * n))
        u = srt[n - k - 1]
        if stat > u:
            top = srt[n - k:]
            beta = sum(top) / k - u
            if beta <= 0:
                return 1.0 / (n + 1) if stat > srt[-1] else k / (n + 1)
            return (k / (n + 1)) * math.exp(-(stat - u) / beta)
        return (n - bisect_left(srt, stat) + 1) / (n + 1)

    def score(self, stat: float) -> float:
        """Score ``stat`` against the memory (does not learn it)."""
        if len(self.window) < self.min_history:
            return 0.0
        return min(1.0, -math.log10(max(self.pvalue(stat), 1e-300)) / self.DECADES)

    def learn(self, stat: float) -> None:
        self.window.push(stat)

    def get_state(self) -> dict[str, Any]:
        return {"memory": self.window.size, "min_history": self.min_history, "tail": self.tail,
                "values": self.window.to_list()}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "TailCalibrator":
        cal = cls(int(state["memory"]), int(state["min_history"]), float(state["tail"]))
        cal.window = RollingWindow(int(state["memory"]), state["values"])
        return cal


class SeasonalProfile:
    """A per-series baseline by hour of day and by (day of week, hour), learnt as it goes.

    Each bucket keeps an exponentially weighted mean and mean absolute deviation, so a new level
    after a deploy is absorbed within a few days of that bucket instead of alarming forever. The
    weekly bucket is used once it has seen ``min_count`` points, the daily one before that.
    Timestamps are read as UTC.
    """

    __slots__ = ("alpha", "min_count", "slot", "mean", "dev", "count")

    def __init__(self, alpha: float = 0.1, min_count: int = 6, slot: int = 900):
        self.alpha = alpha
        self.min_count = min_count
        # the daily profile has one bucket per `slot` seconds: an hour is too coarse for a
        # 5-minute series whose daily peak lasts 20 minutes
        self.slot = slot
        n = 86400 // slot + 168
        self.mean = [0.0] * n
        self.dev = [0.0] * n
        self.count = [0] * n

    def buckets(self, ts: float) -> tuple[int, int]:
        """(time-of-day bucket, day-of-week x hour bucket) of ``ts``."""
        secs = int(ts) % 86400
        days = int(ts // 86400)
        weekday = (days + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
        return secs // self.slot, 86400 // self.slot + 24 * weekday + secs // 3600

    def expected(self, ts: float) -> tuple[float, float, int] | None:
        """(mean, mean abs deviation, samples) of the best bucket for ``ts``, or None if unlearnt."""
        daily, weekly = self.buckets(ts)
        for b in (weekly, daily):
            if self.count[b] >= self.min_count:
                return self.mean[b], self.dev[b], self.count[b]
        return None

    def learn(self, ts: float, value: float) -> None:
        for b in self.buckets(ts):
            n = self.count[b]
            if n == 0:
                self.mean[b] = value
                self.dev[b] = 0.0
            else:
                # 1/n averaging until the bucket has 1/alpha points, then exponential forgetting
                a = max(self.alpha, 1.0 / (n + 1))
                diff = value - self.mean[b]
                self.mean[b] += a * diff
                self.dev[b] += a * (abs(diff) - self.dev[b])
            self.count[b] = n + 1

    def get_state(self) -> dict[str, Any]:
        return {"alpha": self.alpha, "min_count": self.min_count, "slot": self.slot, "mean": list(self.mean),
                "dev": list(self.dev), "count": list(self.count)}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "SeasonalProfile":
        prof = cls(float(state["alpha"]), int(state["min_count"]), int(state["slot"]))
        prof.mean = [float(v) for v in state["mean"]]
        prof.dev = [float(v) for v in state["dev"]]
        prof.count = [int(v) for v in state["count"]]
        return prof
