"""One verdict per point from several detectors ("parts"), by the rule the benchmark chose.

Each part votes with its own score: the calibrated parts (statistical, isolation forest, LSTM)
with a rank against their own history, the fixed-scale ones (the robust z and its variants,
zscore, spectral) with
``z / (z + unit)``. ``decision.combine_scalar`` turns the votes into one score (their maximum,
their mean, the mean of the two highest, or by the series' age: the fixed-scale vote for its first
``young`` points, the calibrated ones after), and ``decision.AlarmGate``
raises an anomaly when that score reaches the threshold after a quiet spell (no point at or above
it in the previous ``quiet`` seconds): one alarm per excursion.

Which parts vote, the rule, the threshold and the quiet spell come from ``decision.json``
(``correlation.detectors.decision.DECISION``), chosen by ``bench/anomaly.py`` by cross-validation
on NAB and Microsoft's cloud telemetry; the benchmark applies the very same functions to the same
parts' scores, so the live path alarms where the benchmark measured it would.

Points that reach the threshold inside an excursion (no alarm) report a score just below the
threshold, so whoever thresholds the score stream sees one alarm per excursion too.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

from .base import PointScore, warming
from .decision import DECISION, AlarmGate, combine_scalar, rescale

#: An ensemble score at or above this raises an anomaly (after a quiet spell). From decision.json.
THRESHOLD = float(DECISION["threshold"])

STAT_PARTS = ("robust_z", "burst", "ewma", "seasonal", "seasonal_run")


def _part(name: str, seed: int):
    from . import make_detector

    return make_detector(name, seed=seed) if name in ("iforest", "lstm") else make_detector(name)


class EnsembleDetector:
    name = "ensemble"

    def __init__(self, seed: int = 0, threshold: float | None = None, votes: Sequence[str] | None = None,
                 combine: str | None = None, quiet: float | None = None, units: dict[str, float] | None = None,
                 young: int | None = None, _parts: dict | None = None):
        self.votes = tuple(votes if votes is not None else DECISION["votes"])
        self.combine = combine if combine is not None else DECISION["combine"]
        self.young = int(young if young is not None else DECISION.get("young", 0))
        self.n = 0  # points seen (the young rule's clock)
        # fixed-scale parts (z / (1 + z)) vote as z / (z + unit)
        self.units = {k: float(u) for k, u in (units if units is not None else DECISION.get("units", {})).items()}
        self.unit_list = [self.units.get(v, 1.0) for v in self.votes]
        self.seed = seed
        # the model registry may pin another threshold; bench/anomaly.py chose DECISION's
        self.threshold = float(threshold if threshold is not None else DECISION["threshold"])
        self.quiet = float(quiet if quiet is not None else DECISION["quiet"])
        self.parts = _parts if _parts is not None else {v: _part(v, seed) for v in self.votes}
        self.gate = AlarmGate(self.threshold, self.quiet)
        self.below = math.nextafter(self.threshold, -math.inf)

    def update(self, ts: float, value: float) -> PointScore:
        if self.combine == "young" and self.n >= self.young:
            # only the calibrated votes count from now on: the young vote's part is not run, and
            # its state is dropped (a day-long robust window is 1,440 floats of a 1-minute series)
            old = self.votes[:-1]
            if len(self.parts) > len(old):
                self.parts = {v: self.parts[v] for v in old}
            verdicts = {v: self.parts[v].update(ts, value) for v in old}
            scores = [rescale(verdicts[v].score, u) for v, u in zip(old, self.unit_list)] + [0.0]
        else:
            verdicts = {name: part.update(ts, value) for name, part in self.parts.items()}
            scores = [rescale(verdicts[v].score, u) for v, u in zip(self.votes, self.unit_list)]
        raw = combine_scalar(scores, self.combine, self.n, self.young)
        self.n += 1
        raised = self.gate.step(raw, ts)
        if all(p.warming_up for p in verdicts.values()):
            return warming(0, 16)
        top = max(scores)
        second = sorted(scores)[-2] if len(scores) > 1 else top
        ready = sum(not p.warming_up for p in verdicts.values()) / len(verdicts)
        if self.combine == "young":  # one vote decides at a time: no agreement to weigh
            second = top
        main = verdicts.get("statistical") or next(iter(verdicts.values()))
        st = verdicts.get("statistical")
        return PointScore(
            score=raw if raised or raw < self.threshold else self.below,
            is_anomaly=raised,
            expected_low=main.expected_low,
            expected_high=main.expected_high,
            statistic=raw,
            details={
                "raw_score": raw,
                "confidence": ready * (second / top if top > 0 else 0.0),
                "suppressed": raw >= self.threshold and not raised,
                "votes": {k: None if k not in verdicts or verdicts[k].warming_up else verdicts[k].score for k in self.votes},
                "parts": {**({k: st.details[k] for k in STAT_PARTS} if st is not None and not st.warming_up else {}),
                          **{k: p.score for k, p in verdicts.items() if k != "statistical"}},
                "forecast": verdicts["lstm"].details.get("forecast", math.nan) if "lstm" in verdicts else math.nan,
            },
        )

    def get_state(self) -> dict[str, Any]:
        return {
            "kind": self.name,
            "seed": self.seed,
            "threshold": self.threshold,
            "votes": list(self.votes),
            "combine": self.combine,
            "units": dict(self.units),
            "young": self.young,
            "n": self.n,
            "quiet": self.quiet,
            "parts": {k: p.get_state() for k, p in self.parts.items()},
            "gate": self.gate.get_state(),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "EnsembleDetector":
        from . import detector_from_state

        parts = {k: detector_from_state(s) for k, s in state["parts"].items()}
        det = cls(seed=int(state["seed"]), threshold=float(state["threshold"]), votes=state["votes"],
                  combine=state["combine"], quiet=float(state["quiet"]), units=state["units"],
                  young=int(state.get("young", 0)), _parts=parts)
        det.gate = AlarmGate.from_state(state["gate"])
        det.n = int(state.get("n", 0))
        return det
