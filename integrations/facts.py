"""What notifications say about an incident, read once from the database into plain data.

Slack's blocks and PagerDuty's events are built from an `IncidentFacts` by pure functions, so
they can be tested without a database and always describe the incident the same way.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from django.conf import settings

from incidents.models import Event, Incident

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


def incident_facts(incident: Incident) -> IncidentFacts:
    hypotheses = incident.hypotheses or []
    top = hypotheses[0] if hypotheses else {}
    root_cause = incident.root_cause_service.name if incident.root_cause_service_id else (top.get("service") or None)
    evidence_ids = [e for e in (top.get("evidence") or []) if isinstance(e, int)][:MAX_EVIDENCE]
    evidence = [
        f"{e.timestamp:%Y-%m-%d %H:%M:%S} {e.service.name} {e.type}: {e.message[:200]}"
        for e in Event.objects.filter(pk__in=evidence_ids).select_related("service").order_by("timestamp")
    ] if evidence_ids else []
    return IncidentFacts(
        number=incident.number,
        title=incident.title,
        status=incident.status,
        status_label=incident.get_status_display(),
        severity=incident.severity,
        url=incident_url(incident),
        root_cause=root_cause,
        confidence=float(incident.confidence or 0.0),
        alternatives=[(h.get("service", "?"), float(h.get("score") or 0.0)) for h in hypotheses[1:4]],
        services=sorted(s.name for s in incident.services.all()),
        summary=incident.summary,
        assignee=incident.assignee.get_username() if incident.assignee_id else None,
        reasons=[str(r) for r in (top.get("reasons") or [])][:MAX_EVIDENCE],
        evidence=evidence,
        started_at=incident.started_at.isoformat(),
    )
