"""One verdict per point from the statistical, isolation-forest and LSTM detectors.

Each detector votes with its own calibrated score (the statistical one with the strongest of its
robust-z, burst, EWMA and seasonal views). The ensemble score is the mean of the two highest votes:
a point only scores high when at least two of the three detectors find it extreme (one of them
beating its recent record, see ``TailCalibrator``). On NAB this "second opinion" rule beat the plain
maximum (which lets every detector's false alarms through; 50.7 against 55.4 before debouncing),
the mean (48.7, which drowns a clear signal seen by one detector) and the median (46.5).

``is_anomaly`` is ``score >= THRESHOLD`` with debouncing: once raised, the series is inside an
excursion and is not raised again until its score has stayed below ``RELEASE`` for ``QUIET``
points, or ``MAX_EXCURSION`` points have passed (so a series that never settles still alarms
again now and then). Points inside an excursion report ``min(score, RELEASE)``, so whoever
thresholds the score stream sees one alarm per excursion. NAB rewards only the first detection
in a window and charges for every later one outside it.

The constants were chosen once on the shared NAB development split (bench/nab.py) and are fixed.
"""

from __future__ import annotations

import math
from typing import Any

from .base import PointScore, warming
from .isolation_forest import IsolationForestDetector
from .lstm import LSTMDetector
from .statistical import StatisticalDetector

#: An ensemble score at or above this raises an anomaly. Chosen on NAB (standard profile).
THRESHOLD = 0.9045
#: An excursion ends once the score has stayed below RELEASE for QUIET points ...
RELEASE = 0.8
QUIET = 12
#: ... or after MAX_EXCURSION points, whichever comes first.
MAX_EXCURSION = 300

STAT_PARTS = ("robust_z", "burst", "ewma", "seasonal", "seasonal_run")


class EnsembleDetector:
    name = "ensemble"

    def __init__(self, seed: int = 0, threshold: float = THRESHOLD, _parts: tuple | None = None):
        if _parts is None:
            _parts = (
                StatisticalDetector(),
                IsolationForestDetector(seed=seed),
                LSTMDetector(seed=seed),
            )
        self.statistical, self.iforest, self.lstm = _parts
        self.seed = seed
        self.threshold = threshold  # the model registry may pin another value; NAB chose THRESHOLD
        self.in_excursion = False
        self.below = 0
        self.since_raise = 0

    def update(self, ts: float, value: float) -> PointScore:
        st = self.statistical.update(ts, value)
        it = self.iforest.update(ts, value)
        ls = self.lstm.update(ts, value)
        if st.warming_up:
            return warming(self.statistical.n - 1, self.statistical.min_history)

        votes = (st.score, it.score, ls.score)
        top, second = sorted(votes)[-2:][::-1]
        raw = (top + second) / 2.0

        score = raw
        raised = False
        if self.in_excursion:
            self.since_raise += 1
            self.below = self.below + 1 if raw < RELEASE else 0
            if self.below >= QUIET or self.since_raise >= MAX_EXCURSION:
                self.in_excursion = False
            else:
                score = min(raw, RELEASE)
        if not self.in_excursion and raw >= self.threshold:
            raised = True
            self.in_excursion = True
            self.below = 0
            self.since_raise = 0

        ready = sum(not p.warming_up for p in (st, it, ls)) / 3.0
        agreement = second / top if top > 0 else 0.0
        return PointScore(
            score=score,
            is_anomaly=raised,
            expected_low=st.expected_low,
            expected_high=st.expected_high,
            statistic=raw,
            details={
                "raw_score": raw,
                "confidence": ready * agreement,
                "suppressed": score < raw,
                "votes": {
                    "statistical": st.score,
                    "iforest": None if it.warming_up else it.score,
                    "lstm": None if ls.warming_up else ls.score,
                },
                "parts": {**{k: st.details[k] for k in STAT_PARTS}, "iforest": it.score, "lstm": ls.score},
                "forecast": ls.details.get("forecast", math.nan),
            },
        )

    def get_state(self) -> dict[str, Any]:
        return {
            "kind": self.name,
            "seed": self.seed,
            "threshold": self.threshold,
            "statistical": self.statistical.get_state(),
            "iforest": self.iforest.get_state(),
            "lstm": self.lstm.get_state(),
            "in_excursion": self.in_excursion,
            "below": self.below,
            "since_raise": self.since_raise,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "EnsembleDetector":
        det = cls(seed=int(state["seed"]), threshold=float(state["threshold"]), _parts=(
            StatisticalDetector.from_state(state["statistical"]),
            IsolationForestDetector.from_state(state["iforest"]),
            LSTMDetector.from_state(state["lstm"]),
        ))
        det.in_excursion = bool(state["in_excursion"])
        det.below = int(state["below"])
        det.since_raise = int(state["since_raise"])
        return det
