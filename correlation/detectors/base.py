"""Streaming detector protocol and the small building blocks the detectors share.

Every detector scores one series (service, metric, host) point by point and is causal: the score
of a point depends only on that point and the ones before it. A detector's whole memory is a dict
of plain numbers, lists and numpy arrays (``get_state``), so the ingest pipeline can keep it in a
database row between requests and ``from_state`` continues exactly where it stopped.

Scores are in [0, 1] and mean "how surprising is this point *for this series*": each detector
turns its raw statistic into a score with a ``TailCalibrator`` that compares the statistic with the
series' own recent history of that statistic. A value that beats everything in recent memory scores
above ``RECORD_SCORE``; the rest score by rank. Pure Python on scalars: on one point at a time this
is several times faster than numpy calls on tiny arrays, which matters because every point of every
series passes through here.
"""

from __future__ import annotations

import math
from array import array
from bisect import bisect_left, insort
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Protocol, runtime_checkable

import numpy as np

#: Score given to a statistic that equals the largest one in the calibrator's memory. Anything
#: below the record scores by rank in [0, RECORD_SCORE); anything above climbs to 1 with the margin.
RECORD_SCORE = 0.9

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

    Both are ``array.array`` buffers: a ring in arrival order and a sorted copy that ``insort``
    and ``del`` keep ordered by moving memory in C. For a few hundred to a few thousand floats that
    is cheaper per point than re-sorting or calling numpy, a float costs 8 bytes (4 with typecode
    ``"f"``) instead of a Python object, and the state pickles as raw bytes. With ``"f"`` every
    value is rounded to float32 as it enters, so a restored window holds exactly what the live
    one held.
    """

    __slots__ = ("size", "ring", "head", "sorted")

    def __init__(self, size: int, values: Iterable[float] = (), typecode: str = "d"):
        self.size = size
        values = np.asarray(values, dtype=np.float32 if typecode == "f" else float).ravel()[-size:]
        self.ring = array(typecode, values.tobytes())
        self.head = 0  # index of the oldest value once the ring is full
        self.sorted = array(typecode, np.sort(values).tobytes())

    def __len__(self) -> int:
        return len(self.ring)

    def push(self, value: float) -> None:
        ring = self.ring
        if len(ring) < self.size:
            ring.append(value)
            value = ring[-1]
        else:
            head = self.head
            old = ring[head]
            ring[head] = value
            value = ring[head]
            self.head = head + 1 if head + 1 < self.size else 0
            del self.sorted[bisect_left(self.sorted, old)]
        insort(self.sorted, value)

    def quantile(self, q: float) -> float:
        s = self.sorted
        return s[min(len(s) - 1, int(q * len(s)))]

    def center_scale(self) -> tuple[float, float]:
        """(median, robust spread) of the window: the inter-quartile range scaled to a normal
        standard deviation, floored at 1% of the window's range so a flat series stays sane."""
        s = self.sorted
        med = self.quantile(0.5)
        spread = (self.quantile(0.75) - self.quantile(0.25)) / 1.349
        return med, max(spread, 0.01 * (s[-1] - s[0]), 1e-6 * abs(med), 1e-9)

    def rank(self, value: float) -> float:
        """Share of the window strictly below ``value``."""
        return bisect_left(self.sorted, value) / len(self.sorted)

    def to_array(self) -> np.ndarray:
        """The values in arrival order (for ``get_state``)."""
        ring, head = self.ring, self.head
        out = np.frombuffer(ring[head:].tobytes() + ring[:head].tobytes(), dtype=np.float32 if ring.typecode == "f" else float)
        return out.copy()

    def to_list(self) -> list[float]:
        return self.to_array().tolist()


class TailCalibrator:
    """Turns a raw "bigger is stranger" statistic into a score in [0, 1] for this series.

    The statistic is compared with the last ``memory`` statistics of the same series. Below the
    largest remembered one it scores its rank times ``RECORD_SCORE``; at the record it scores
    ``RECORD_SCORE`` and above it climbs towards 1 with ``log(s / record)`` (a statistic twice the
    record scores about 0.97). So a series whose statistic is always wild (tweets) only alarms on a
    new extreme, while a calm one alarms on a modest departure, without a threshold per series.

    (A peaks-over-threshold tail fit, as in SPOT, was tried in its place: it also lets points
    that are high but not records through, and scored clearly worse on NAB.)
    """

    __slots__ = ("window", "min_history")

    def __init__(self, memory: int, min_history: int):
        # float32 memory: ranks of z-like statistics need no more, and it halves the stored state
        self.window = RollingWindow(memory, typecode="f")
        self.min_history = min_history

    def ready(self) -> bool:
        return len(self.window) >= self.min_history

    def score(self, stat: float) -> float:
        """Score ``stat`` against the memory (does not learn it)."""
        w = self.window
        if len(w) < self.min_history:
            return 0.0
        top = w.sorted[-1]
        if stat > top:
            margin = math.log((stat + 1e-12) / (top + 1e-12))
            return RECORD_SCORE + (1.0 - RECORD_SCORE) * (1.0 - math.exp(-2.0 * margin))
        return RECORD_SCORE * bisect_left(w.sorted, stat) / len(w.sorted)

    def learn(self, stat: float) -> None:
        self.window.push(stat)

    def get_state(self) -> dict[str, Any]:
        return {"memory": self.window.size, "min_history": self.min_history, "values": self.window.to_array()}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "TailCalibrator":
        cal = cls(int(state["memory"]), int(state["min_history"]))
        cal.window = RollingWindow(int(state["memory"]), state["values"], typecode="f")
        return cal


#: Seasonal buckets are never narrower than this: a one-minute series gets five-minute buckets,
#: which keeps its profile small and gives each bucket one (averaged) sample a day.
MIN_SLOT = 300


class SeasonalProfile:
    """A per-series baseline by time of day and by time of week, learnt as it goes.

    The buckets are as fine as the series' own sampling interval (taken from its first two
    points, between ``MIN_SLOT`` and one hour): hourly buckets blur a 5-minute series whose daily
    peak lasts twenty minutes, and the time-of-day residual is what reveals a missing daily peak.
    The points that fall into one bucket on one day are averaged and learnt as one sample, so
    ``min_count`` and ``alpha`` count days whatever the sampling rate. Each bucket keeps an
    exponentially weighted mean and mean absolute deviation, so a new level after a deploy is
    absorbed within days instead of alarming forever. The weekly bucket is used once it has seen
    ``min_count`` weeks, the daily one (``min_count`` days) before that. Timestamps are read as UTC.
    """

    __slots__ = ("alpha", "min_count", "slot", "first_ts", "mean", "dev", "count", "acc_key", "acc_sum", "acc_n")

    def __init__(self, alpha: float = 0.25, min_count: int = 3):
        self.alpha = alpha
        self.min_count = min_count
        self.slot = 0  # seconds per bucket; 0 until the second point arrives
        self.first_ts = math.nan
        self.mean = array("d")
        self.dev = array("d")
        self.count = array("i")
        # the bucket-day being accumulated: (day number, time-of-day bucket), sum and count
        self.acc_key = -1
        self.acc_sum = 0.0
        self.acc_n = 0

    def buckets(self, ts: float) -> tuple[int, int]:
        """(time-of-day bucket, time-of-week bucket) of ``ts``."""
        secs = int(ts) % 86400
        weekday = (int(ts // 86400) + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
        per_day = -(-86400 // self.slot)
        return secs // self.slot, per_day + weekday * per_day + secs // self.slot

    def expected(self, ts: float) -> tuple[float, float, int] | None:
        """(mean, mean abs deviation, samples) of the best bucket for ``ts``, or None if unlearnt."""
        if not self.slot:
            return None
        daily, weekly = self.buckets(ts)
        for b in (weekly, daily):
            if self.count[b] >= self.min_count:
                return self.mean[b], self.dev[b], self.count[b]
        return None

    def learn(self, ts: float, value: float) -> None:
        if not self.slot:
            if math.isnan(self.first_ts) or ts <= self.first_ts:
                self.first_ts = ts
                return
            self.slot = int(min(3600, max(MIN_SLOT, round(ts - self.first_ts))))
            n = 8 * -(-86400 // self.slot)
            self.mean, self.dev, self.count = array("d", bytes(8 * n)), array("d", bytes(8 * n)), array("i", bytes(4 * n))
        key = int(ts // 86400) * 100_000 + int(ts) % 86400 // self.slot
        if key != self.acc_key:
            if self.acc_n:
                self._learn_bucket_day(self.acc_key, self.acc_sum / self.acc_n)
            self.acc_key, self.acc_sum, self.acc_n = key, 0.0, 0
        self.acc_sum += value
        self.acc_n += 1

    def _learn_bucket_day(self, key: int, value: float) -> None:
        day, daily = divmod(key, 100_000)
        per_day = -(-86400 // self.slot)
        weekday = (day + 3) % 7
        for b in (daily, per_day + weekday * per_day + daily):
            n = self.count[b]
            if n == 0:
                self.mean[b] = value
                self.dev[b] = 0.0
            else:
                # 1/n averaging until the bucket has 1/alpha samples, then exponential forgetting
                a = max(self.alpha, 1.0 / (n + 1))
                diff = value - self.mean[b]
                self.mean[b] += a * diff
                self.dev[b] += a * (abs(diff) - self.dev[b])
            self.count[b] = n + 1

    def get_state(self) -> dict[str, Any]:
        return {"alpha": self.alpha, "min_count": self.min_count, "slot": self.slot,
                "first_ts": self.first_ts, "mean": np.frombuffer(self.mean.tobytes(), dtype=float),
                "dev": np.frombuffer(self.dev.tobytes(), dtype=float),
                "count": np.frombuffer(self.count.tobytes(), dtype=np.int32),
                "acc": (self.acc_key, self.acc_sum, self.acc_n)}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "SeasonalProfile":
        prof = cls(float(state["alpha"]), int(state["min_count"]))
        prof.slot = int(state["slot"])
        prof.first_ts = float(state["first_ts"])
        prof.mean = array("d", np.asarray(state["mean"], dtype=float).tobytes())
        prof.dev = array("d", np.asarray(state["dev"], dtype=float).tobytes())
        prof.count = array("i", np.asarray(state["count"], dtype=np.int32).tobytes())
        prof.acc_key, prof.acc_sum, prof.acc_n = state.get("acc", (-1, 0.0, 0))
        prof.acc_key, prof.acc_sum, prof.acc_n = int(prof.acc_key), float(prof.acc_sum), int(prof.acc_n)
        return prof
