"""The one shape of an incident's analysis: its root-cause hypotheses, best first, each with the
evidence (stored events) that supports it.

`Incident.hypotheses` stores `[Hypothesis.to_json(), ...]`; everything reads it back through
`Hypothesis.from_json` (`Incident.analysis`): the engine writes it (incidents.services.
incident_analysis_update), the console's root-cause step, the API, the live updates and the
notifications read it. Stored JSON of one hypothesis:

    {"service": "payments-db", "score": 0.72, "pattern": "db-connection-pool-exhaustion" | null,
     "reasons": ["..."], "evidence": [{"event": 123, "client_id": "evt-1" | null, "weight": 0.9 | null}],
     "features": {"onset": 1.0, "healthy": 0.8, ...}}   (optional: correlation.ranker.FEATURES)

`event` is the Event's primary key; `weight` is the engine's weight of that event for this
hypothesis, or null when nobody weighed it (the console then weighs events by severity and type).
Rows stored in older shapes (bare primary keys, client ids, `id`/`pk` keys) were rewritten to this
one by migration incidents 0005. Plain dataclasses, no Django.
"""
from __future__ import annotations

from dataclasses import dataclass, field


class AnalysisShapeError(ValueError):
    """Stored or given analysis data that is not in the shape above."""


@dataclass(frozen=True)
class Evidence:
    event: int
    client_id: str | None = None
    weight: float | None = None

    def to_json(self) -> dict:
        return {"event": self.event, "client_id": self.client_id, "weight": None if self.weight is None else round(self.weight, 3)}

    @classmethod
    def from_json(cls, raw) -> Evidence:
        if not isinstance(raw, dict):
            raise AnalysisShapeError(f"evidence must be an object with an 'event' id, not {raw!r}")
        event, weight, client_id = raw.get("event"), raw.get("weight"), raw.get("client_id")
        if not isinstance(event, int) or isinstance(event, bool):
            raise AnalysisShapeError(f"evidence 'event' must be an event id, not {event!r}")
        if weight is not None and (isinstance(weight, bool) or not isinstance(weight, (int, float))):
            raise AnalysisShapeError(f"evidence 'weight' must be a number or null, not {weight!r}")
        if client_id is not None and not isinstance(client_id, str):
            raise AnalysisShapeError(f"evidence 'client_id' must be a string or null, not {client_id!r}")
        return cls(event=event, client_id=client_id, weight=None if weight is None else float(weight))


@dataclass(frozen=True)
class Hypothesis:
    service: str
    score: float = 0.0  # probability among the hypotheses
    pattern: str | None = None  # slug of the pattern library's entry that fits
    reasons: tuple[str, ...] = ()
    evidence: tuple[Evidence, ...] = field(default=())
    # What the engine measured about this candidate (correlation.ranker.FEATURES): what the learned
    # ranker scores, and what a labelled incident teaches it. Absent from rows written before.
    features: tuple[tuple[str, float], ...] = ()

    def to_json(self) -> dict:
        data = {
            "service": self.service,
            "score": round(self.score, 4),
            "pattern": self.pattern,
            "reasons": list(self.reasons),
            "evidence": [e.to_json() for e in self.evidence],
        }
        if self.features:
            data["features"] = dict(self.features)
        return data

    @classmethod
    def from_json(cls, raw) -> Hypothesis:
        if not isinstance(raw, dict) or not isinstance(raw.get("service"), str) or not raw["service"]:
            raise AnalysisShapeError(f"a hypothesis must be an object with a 'service', not {raw!r}")
        score = raw.get("score") or 0.0
        if isinstance(score, bool) or not isinstance(score, (int, float)):
            raise AnalysisShapeError(f"hypothesis 'score' must be a number, not {score!r}")
        pattern = raw.get("pattern")
        if pattern is not None and not isinstance(pattern, str):
            raise AnalysisShapeError(f"hypothesis 'pattern' must be a slug or null, not {pattern!r}")
        features = raw.get("features") or {}
        if not isinstance(features, dict) or any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in features.values()):
            raise AnalysisShapeError(f"hypothesis 'features' must be an object of numbers, not {features!r}")
        return cls(
            service=raw["service"],
            score=float(score),
            pattern=pattern or None,
            reasons=tuple(str(r) for r in raw.get("reasons") or ()),
            evidence=tuple(Evidence.from_json(e) for e in raw.get("evidence") or ()),
            features=tuple((str(k), float(v)) for k, v in features.items()),
        )


# An event nobody weighed counts by its severity and type: critical over warning over info, alerts
# over anomalies over logs over metrics (the console shows each event's share of the evidence).
SEVERITY_WEIGHT = {"critical": 3.0, "warning": 2.0, "info": 1.0}
TYPE_WEIGHT = {"alert": 1.5, "anomaly": 1.2, "log": 1.0, "metric": 0.8}


def evidence_weight(*, severity: str, type: str) -> float:
    return SEVERITY_WEIGHT.get(severity, 1.0) * TYPE_WEIGHT.get(type, 1.0)


def analysis_from_json(raw) -> list[Hypothesis]:
    if raw in (None, ""):
        return []
    if not isinstance(raw, list):
        raise AnalysisShapeError(f"hypotheses must be a list, not {raw!r}")
    return [Hypothesis.from_json(h) for h in raw]


def analysis_to_json(hypotheses: list[Hypothesis]) -> list[dict]:
    return [h.to_json() for h in hypotheses]


@dataclass(frozen=True)
class IncidentAnalysis:
    """What the correlation engine concluded about one incident: the fields
    incidents.services.incident_open / incident_analysis_update write."""

    title: str
    severity: str
    started_at: object  # datetime
    last_event_at: object  # datetime
    hypotheses: list[Hypothesis]
    confidence: float = 0.0
    summary: str = ""
    root_cause_service_id: int | None = None
    pattern_id: int | None = None
    incident_type: str = ""
    event_count: int = 0
    alert_count: int = 0

    @property
    def root(self) -> str | None:
        return self.hypotheses[0].service if self.hypotheses else None

    def fields(self) -> dict:
        """The Incident model's fields, as stored."""
        return {
            "title": self.title[:300], "severity": self.severity, "started_at": self.started_at, "last_event_at": self.last_event_at,
            "root_cause_service_id": self.root_cause_service_id, "pattern_id": self.pattern_id, "incident_type": self.incident_type,
            "confidence": self.confidence, "hypotheses": analysis_to_json(self.hypotheses), "summary": self.summary,
            "event_count": self.event_count, "alert_count": self.alert_count,
        }
