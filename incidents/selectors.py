"""Reads of the incident domain, shared by the API and the console."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Q, QuerySet

from incidents.models import Event, Incident, Service


@dataclass(frozen=True)
class IncidentFilters:
    status: list[str] | None = None
    severity: list[str] | None = None
    service: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    q: str | None = None


def incident_list(*, filters: IncidentFilters) -> QuerySet[Incident]:
    qs = Incident.objects.select_related("root_cause_service", "pattern", "assignee")
    if filters.status:
        qs = qs.filter(status__in=filters.status)
    if filters.severity:
        qs = qs.filter(severity__in=filters.severity)
    if filters.service:
        qs = qs.filter(Q(services__name=filters.service) | Q(root_cause_service__name=filters.service)).distinct()
    # An incident is in a range when it overlaps it.
    if filters.since:
        qs = qs.filter(last_event_at__gte=filters.since)
    if filters.until:
        qs = qs.filter(started_at__lte=filters.until)
    if filters.q:
        qs = qs.filter(Q(title__icontains=filters.q) | Q(summary__icontains=filters.q))
    return qs.order_by("-started_at", "-id")


def incident_to_api(incident: Incident, *, with_events: bool = True) -> dict:
    """The API's shape of an incident (also what `manage.py replay` writes)."""
    services = sorted(s.name for s in incident.services.all())
    data = {
        "id": incident.pk,
        "number": incident.number,
        "title": incident.title,
        "status": incident.status,
        "severity": incident.severity,
        "started_at": incident.started_at.isoformat(),
        "last_event_at": incident.last_event_at.isoformat(),
        "resolved_at": incident.resolved_at.isoformat() if incident.resolved_at else None,
        "root_cause_service": incident.root_cause_service.name if incident.root_cause_service_id else None,
        "root_cause_candidates": incident.root_cause_candidates,
        "confidence": round(incident.confidence, 4),
        "pattern": incident.pattern.slug if incident.pattern_id else None,
        "incident_type": incident.incident_type or (incident.pattern.incident_type if incident.pattern_id else ""),
        "summary": incident.summary,
        "hypotheses": incident.hypotheses,
        "services": services,
        "assignee": incident.assignee.get_username() if incident.assignee_id else None,
        "tags": incident.tags,
        "event_count": incident.event_count,
        "alert_count": incident.alert_count,
        "url": incident.get_absolute_url(),
    }
    if with_events:
        data["event_ids"] = [cid for cid in incident.events.order_by("timestamp", "id").values_list("client_id", flat=True) if cid]
    return data


def event_to_api(event: Event) -> dict:
    return {
        "id": event.client_id,
        "pk": event.pk,
        "timestamp": event.timestamp.isoformat(),
        "received_at": event.received_at.isoformat(),
        "service": event.service.name,
        "type": event.type,
        "severity": event.severity,
        "message": event.message,
        "metric": event.metric or None,
        "value": event.value,
        "host": event.host or None,
        "fingerprint": event.fingerprint or None,
        "attributes": event.attributes,
        "source": event.source,
        "incident": event.incident_id,
    }


def service_topology() -> list[dict]:
    services = Service.objects.prefetch_related("depends_on").order_by("name")
    return [
        {
            "name": s.name,
            "tier": s.tier,
            "team": s.team,
            "runbook_url": s.runbook_url,
            "depends_on": sorted(d.name for d in s.depends_on.all()),
        }
        for s in services
    ]


def stats_for_range(*, since: datetime | None, until: datetime | None) -> dict:
    events = Event.objects.all()
    if since:
        events = events.filter(timestamp__gte=since)
    if until:
        events = events.filter(timestamp__lte=until)
    counts = events.aggregate(
        events=Count("id"),
        alerts=Count("id", filter=Q(type=Event.Type.ALERT)),
        anomalies=Count("id", filter=Q(type=Event.Type.ANOMALY)),
    )
    incidents = incident_list(filters=IncidentFilters(since=since, until=until))
    by_status = dict(incidents.order_by().values_list("status").annotate(n=Count("id")))
    n_incidents = sum(by_status.values())
    alerts = counts["alerts"]
    return {
        "since": since.isoformat() if since else None,
        "until": until.isoformat() if until else None,
        "events": counts["events"],
        "alerts": alerts,
        "anomalies": counts["anomalies"],
        "incidents": n_incidents,
        "incidents_by_status": by_status,
        # 1 - incidents / alert events: the share of alerts nobody had to look at one by one.
        "noise_reduction": round(1 - n_incidents / alerts, 4) if alerts else None,
    }
