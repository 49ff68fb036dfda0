"""How the ensemble turns its parts' scores into alarms, and the constants it does it with.

The same functions run in the benchmark (``bench/anomaly.py``, on whole cached score arrays) and
in the live path (``EnsembleDetector.update``, one point at a time), and give identical results:

* ``combine_votes``: the parts' scores become one score: their maximum, their mean, the mean
  of the two highest ("top2": a point scores high only when two parts find it extreme), or by the
  series' age ("young": the second vote, on a fixed scale, for the first ``young`` points of a
  series, the first vote, calibrated against the series' own records, after: a record means
  little until the series has a long memory, so a young series is judged on a fixed scale);
* an alarm is raised at a point whose score reaches the threshold when no point in the previous
  ``quiet`` seconds did (``alarm_rows`` / ``AlarmGate``): one alarm per excursion, a new one only
  after a quiet spell. NAB rewards only the first detection in a window and charges for every
  later one outside it; on-call people do the same.

The constants (which parts vote, the rule, the threshold, the quiet spell) are chosen by
``bench/anomaly.py`` by cross-validation on NAB and Microsoft's cloud telemetry and stored in
``decision.json`` next to this file, with the data and the out-of-fold figures they were measured
on. ``DECISION`` is that file's content (or the former NAB-only constants if it is missing).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np

DECISION_PATH = Path(__file__).with_name("decision.json")
COMBINES = ("max", "mean", "top2", "young")

_FALLBACK = {"votes": ["statistical", "iforest", "lstm"], "combine": "top2", "units": {}, "threshold": 0.9045, "quiet": 3600,
             "measured": {"by": "bench/nab.py, in-sample on the 35 shared NAB files (no decision.json)"}}


def split_combine(combine: str) -> tuple[str, int]:
    """``"young1000"`` -> ``("young", 1000)``; any other rule -> ``(rule, 0)`` (the bench's names)."""
    if combine.startswith("young") and combine[5:].isdigit():
        return "young", int(combine[5:])
    return combine, 0


def load_decision(path: Path = DECISION_PATH) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return dict(_FALLBACK)
    for key in ("votes", "combine", "threshold", "quiet"):
        if key not in data:
            raise ValueError(f"{path.name}: missing {key!r}")
    if data["combine"] not in COMBINES:
        raise ValueError(f"{path.name}: unknown combine rule {data['combine']!r}")
    if data["combine"] == "young" and (len(data["votes"]) < 2 or int(data.get("young", 0)) < 1):
        raise ValueError(f"{path.name}: the young rule takes two votes or more and a positive 'young' (points)")
    return data


DECISION = load_decision()


def rescale(score, unit: float):
    """A fixed-scale part's score ``z / (1 + z)`` re-expressed as ``z / (z + unit)`` (scalar or
    array, the same floats either way); ``unit`` 1 leaves it as it is."""
    if unit == 1.0:
        return score
    return score / (score + unit * (1.0 - score))


def combine_scalar(votes: Sequence[float], combine: str, index: int = 0, young: int = 0) -> float:
    """One point's combined score (the same float ``combine_votes`` gives for that column);
    ``index`` is the point's position in its series (the young rule needs it)."""
    if combine == "young":
        if index < young:
            return votes[-1]
        return votes[0] if len(votes) == 2 else max(votes[:-1])
    if combine == "max":
        return max(votes)
    if combine == "mean":
        total = votes[0]
        for v in votes[1:]:
            total += v
        return total / len(votes)
    if combine == "top2":
        top, second = sorted(votes)[-2:][::-1]
        return (top + second) / 2.0
    raise ValueError(f"unknown combine rule {combine!r}")


def combine_votes(votes: np.ndarray, combine: str, young: int = 0) -> np.ndarray:
    """Combined scores of whole series: ``votes`` is (parts, points)."""
    votes = np.asarray(votes, dtype=float)
    if combine == "young":
        return np.where(np.arange(votes.shape[1]) < young, votes[-1], votes[:-1].max(axis=0))
    if combine == "max":
        return votes.max(axis=0)
    if combine == "mean":
        total = votes[0].copy()
        for row in votes[1:]:
            total += row
        return total / len(votes)
    if combine == "top2":
        s = np.sort(votes, axis=0)
        return (s[-1] + s[-2]) / 2.0
    raise ValueError(f"unknown combine rule {combine!r}")


def alarm_rows(above: np.ndarray, quiet: float, times: np.ndarray) -> np.ndarray:
    """Of the (sorted) rows whose score reached the threshold, those that raise an alarm: the
    ones with no such row in the ``quiet`` seconds before them (``times``: every row's epoch
    seconds). The quiet spell is time, not points: an hourly and a per-minute series get the
    same spell."""
    above = np.asarray(above, dtype=np.int64)
    if not len(above):
        return above
    t = np.asarray(times, dtype=float)[above]
    gaps = np.diff(t, prepend=-np.inf)
    return above[gaps > quiet]


class AlarmGate:
    """``alarm_rows`` one point at a time; its state is three numbers."""

    __slots__ = ("threshold", "quiet", "last_above")

    def __init__(self, threshold: float, quiet: float):
        self.threshold = float(threshold)
        self.quiet = float(quiet)
        self.last_above = -math.inf

    def step(self, score: float, ts: float) -> bool:
        raised = False
        if score >= self.threshold:
            raised = ts - self.last_above > self.quiet
            self.last_above = ts
        return raised

    def get_state(self) -> dict[str, Any]:
        return {"threshold": self.threshold, "quiet": self.quiet, "last_above": self.last_above}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "AlarmGate":
        gate = cls(state["threshold"], state["quiet"])
        gate.last_above = float(state["last_above"])
        return gate


class Likelihood:
    """Numenta's anomaly likelihood (Ahmad et al. 2017) of a score stream, as a log score in [0, 1].

    The mean of the last ``short`` scores is compared with the distribution (mean, variance) of
    that mean over the last ``history`` points before it; the tail probability ``Q`` of a normal
    with those moments becomes ``ln(Q + 1e-10) / ln(1e-10)`` (NAB's log-likelihood score). Until
    ``min_history`` means are known it returns 0. Running sums (re-summed exactly now and then),
    so a point costs a few operations; the state is the two windows and the sums.
    """

    __slots__ = ("short", "history", "min_history", "recent", "recent_sum", "means", "total", "total_sq", "n")

    def __init__(self, short: int = 10, history: int = 2000, min_history: int = 64):
        self.short = short
        self.history = history
        self.min_history = min_history
        self.recent: list[float] = []
        self.recent_sum = 0.0
        self.means: list[float] = []
        self.total = 0.0
        self.total_sq = 0.0
        self.n = 0

    def step(self, score: float) -> float:
        recent = self.recent
        recent.append(score)
        self.recent_sum += score
        if len(recent) > self.short:
            self.recent_sum -= recent.pop(0)
        avg = self.recent_sum / len(recent)
        k = len(self.means)
        out = 0.0
        if k >= self.min_history:
            mean = self.total / k
            var = max(self.total_sq / k - mean * mean, 0.0003)
            z = (avg - mean) / math.sqrt(var)
            out = math.log(0.5 * math.erfc(z / math.sqrt(2.0)) + 1e-10) / LOG_TINY
        means = self.means
        means.append(avg)
        self.total += avg
        self.total_sq += avg * avg
        if k + 1 > self.history:
            old = means.pop(0)
            self.total -= old
            self.total_sq -= old * old
        self.n += 1
        if self.n % 500 == 0:
            self.total = math.fsum(means)
            self.total_sq = math.fsum(m * m for m in means)
            self.recent_sum = math.fsum(recent)
        return out

    def get_state(self) -> dict[str, Any]:
        return {"short": self.short, "history": self.history, "min_history": self.min_history,
                "recent": np.asarray(self.recent), "means": np.asarray(self.means),
                "sums": (self.recent_sum, self.total, self.total_sq), "n": self.n}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "Likelihood":
        lik = cls(int(state["short"]), int(state["history"]), int(state["min_history"]))
        lik.recent = [float(x) for x in state["recent"]]
        lik.means = [float(x) for x in state["means"]]
        lik.recent_sum, lik.total, lik.total_sq = (float(x) for x in state["sums"])
        lik.n = int(state["n"])
        return lik


LOG_TINY = math.log(1e-10)


def likelihood_scores(scores: np.ndarray, **params: Any) -> np.ndarray:
    """``Likelihood`` over a whole score stream (the live path steps the same object)."""
    lik = Likelihood(**params)
    step = lik.step
    return np.array([step(s) for s in np.asarray(scores, dtype=float).tolist()])
