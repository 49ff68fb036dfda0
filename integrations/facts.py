"""What notifications say about an incident, read once from the database into plain data.

Slack's blocks and PagerDuty's events are built from an `IncidentFacts` by pure functions, so
they can be tested without a database and always describe the incident the same way.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from django.conf import settings

from incidents.models import Event, Incident, TimelineEvent
from incidents.selectors import incident_data

MAX_EVIDENCE = 5


@dataclass(frozen=True)
class IncidentFacts:
    number: int
    title: str
    status: str
    status_label: str
    severity: str
    url: str
    root_cause: str | None = None
    confidence: float = 0.0
    alternatives: list[tuple[str, float]] = field(default_factory=list)
    services: list[str] = field(default_factory=list)
    summary: str = ""
    assignee: str | None = None
    reasons: list[str] = field(default_factory=list)
    evidence: list[str] = field(default_factory=list)
    started_at: str = ""


def incident_url(incident: Incident) -> str:
    return settings.CLEARA_BASE_URL.rstrip("/") + incident.get_absolute_url()


def evidence_line(event: Event) -> str:
    return f"{event.timestamp:%Y-%m-%d %H:%M:%S} {event.service.name} {event.type}: {event.message[:200]}"


def incident_facts(incident: Incident) -> IncidentFacts:
    """The notifications' facts, from the same plain data and the same weighed evidence as the
    console and the API (incidents.selectors.incident_data)."""
    d = incident_data(incident, evidence=MAX_EVIDENCE)
    top = d.hypotheses[0] if d.hypotheses else None
    return IncidentFacts(
        number=d.number,
        title=d.title,
        status=d.status,
        status_label=d.status_label,
        severity=d.severity,
        url=settings.CLEARA_BASE_URL.rstrip("/") + d.path,
        root_cause=d.root_cause,
        confidence=d.confidence,
        alternatives=[(h.service, h.score) for h in d.hypotheses[1:4]],
        services=d.services,
        summary=d.summary,
        assignee=d.assignee,
        reasons=list(top.reasons[:MAX_EVIDENCE]) if top else [],
        evidence=[evidence_line(item["event"]) for item in d.evidence],
        started_at=d.started_at.isoformat(),
    )


@dataclass(frozen=True)
class SplitFacts:
    """An incident the engine opened apart from another (a new origin inside its cone): what the
    source's timeline says about it, and where the new one is."""

    message: str
    number: int
    url: str


def split_facts(incident: Incident, *, timeline_id: int | None, number: int) -> SplitFacts | None:
    """The split recorded in `incident`'s timeline (incidents.services.incident_split_record), or None
    when either side is gone."""
    note = incident.timeline.filter(pk=timeline_id, kind=TimelineEvent.Kind.NOTE).first()
    split = Incident.objects.filter(number=number).first()
    if note is None or split is None:
        return None
    return SplitFacts(message=note.message, number=split.number, url=incident_url(split))
