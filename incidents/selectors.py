"""Reads of the incident domain (queries), shared by the API, the console and the notifications.

The console's per-step view models are in incidents.screens; the rules they apply live in the
domain modules (incidents.analysis, incidents.graph, incidents.resolution)."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Count, Q, QuerySet
from django.db.models.functions import TruncDay, TruncHour, TruncMinute
from django.utils import timezone

from incidents import rollups
from incidents.ingest import COMPUTABLE_FROM, COMPUTABLE_UNTIL
from incidents.analysis import Evidence, Hypothesis, analysis_to_json, evidence_weight
from incidents.models import Event, Incident, Pattern, Service
from incidents.similarity import IncidentProfile, SimilarIncident, resolve_estimate, similar_incidents


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


@dataclass(frozen=True)
class IncidentData:
    """An incident as plain data, read once: what the API (and `manage.py replay`), the console's
    live updates and the notifications (integrations.facts) say about it."""

    id: int
    number: int
    title: str
    status: str
    status_label: str
    severity: str
    path: str
    started_at: datetime
    last_event_at: datetime
    resolved_at: datetime | None
    root_cause: str | None
    confidence: float
    pattern: str | None
    incident_type: str
    summary: str
    hypotheses: list[Hypothesis]
    services: list[str]
    assignee: str | None
    tags: list
    event_count: int
    alert_count: int
    # The top hypothesis's evidence as the console weighs it, strongest first (only when asked).
    evidence: list[dict] = field(default_factory=list)


def incident_data(incident: Incident, *, evidence: int = 0) -> IncidentData:
    """`incident` as plain data (select_related root_cause_service, pattern, assignee and
    prefetch services to avoid queries); with the first `evidence` events of its evidence."""
    hypotheses = incident.analysis
    return IncidentData(
        id=incident.pk,
        number=incident.number,
        title=incident.title,
        status=incident.status,
        status_label=incident.get_status_display(),
        severity=incident.severity,
        path=incident.get_absolute_url(),
        started_at=incident.started_at,
        last_event_at=incident.last_event_at,
        resolved_at=incident.resolved_at,
        root_cause=incident.root_cause_service.name if incident.root_cause_service_id else (hypotheses[0].service if hypotheses else None),
        confidence=float(incident.confidence or 0.0),
        pattern=incident.pattern.slug if incident.pattern_id else None,
        incident_type=incident.incident_type or (incident.pattern.incident_type if incident.pattern_id else ""),
        summary=incident.summary,
        hypotheses=hypotheses,
        services=sorted(s.name for s in incident.services.all()),
        assignee=incident.assignee.get_username() if incident.assignee_id else None,
        tags=incident.tags,
        event_count=incident.event_count,
        alert_count=incident.alert_count,
        evidence=evidence_weighed(hypotheses[0] if hypotheses else None)[:evidence] if evidence else [],
    )


def incident_to_api(incident: Incident, *, with_events: bool = True) -> dict:
    """The API's shape of an incident (also what `manage.py replay` writes)."""
    d = incident_data(incident)
    data = {
        "id": d.id,
        "number": d.number,
        "title": d.title,
        "status": d.status,
        "severity": d.severity,
        "started_at": d.started_at.isoformat(),
        "last_event_at": d.last_event_at.isoformat(),
        "resolved_at": d.resolved_at.isoformat() if d.resolved_at else None,
        "root_cause_service": incident.root_cause_service.name if incident.root_cause_service_id else None,
        "root_cause_candidates": [h.service for h in d.hypotheses],
        "confidence": round(d.confidence, 4),
        "pattern": d.pattern,
        "incident_type": d.incident_type,
        "summary": d.summary,
        "hypotheses": analysis_to_json(d.hypotheses),
        "services": d.services,
        "assignee": d.assignee,
        "tags": d.tags,
        "event_count": d.event_count,
        "alert_count": d.alert_count,
        "url": d.path,
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
    # From the hourly rollups plus the partial hours at the range's ends (incidents.rollups): the
    # same cost at a billion events as at a thousand, and events dropped by retention still count.
    counts = rollups.event_counts(since=since, until=until)
    incidents = incident_list(filters=IncidentFilters(since=since, until=until))
    by_status = dict(incidents.order_by().values_list("status").annotate(n=Count("id")))
    n_incidents = sum(by_status.values())
    alerts = counts[Event.Type.ALERT]
    return {
        "since": since.isoformat() if since else None,
        "until": until.isoformat() if until else None,
        "events": counts["events"],
        "alerts": alerts,
        "anomalies": counts[Event.Type.ANOMALY],
        "incidents": n_incidents,
        "incidents_by_status": by_status,
        # 1 - incidents / alert events: the share of alerts nobody had to look at one by one.
        "noise_reduction": round(1 - n_incidents / alerts, 4) if alerts else None,
    }


def rca_hit_rate(*, now: datetime, days: int = 30) -> dict:
    """How often the root cause Cleara named was right, from engineers' feedback of the last `days`
    (a "yes" counts 1, a "partial" 0.5, a "no" 0); `rate` is None without feedback."""
    from incidents.models import Feedback

    verdicts = dict(Feedback.objects.filter(created_at__gte=now - timedelta(days=days), created_at__lte=now)
                    .order_by().values_list("verdict").annotate(n=Count("id")))
    yes, partial, no = (verdicts.get(v, 0) for v in (Feedback.Verdict.YES, Feedback.Verdict.PARTIAL, Feedback.Verdict.NO))
    total = yes + partial + no
    return {"days": days, "feedback": total, "yes": yes, "partial": partial, "no": no,
            "rate": round((yes + 0.5 * partial) / total, 4) if total else None}


# --- The console's reads -------------------------------------------------------------------------
# Everything below serves one screen of the nine-step console (templates/incidents/). Each
# function is bounded (a LIMIT, a time window or the incident's own events) so that pages stay
# fast with millions of events; the indexes they rely on are named next to the query.

CONSOLE_PAGE_SIZE = 50
TIMELINE_MAX_POINTS = 2000
LOG_LIMIT = 200
ALERT_HISTORY_DAYS = 7
ALERT_HISTORY_LIMIT = 50
# How far around an incident "beyond the incident" log search and the metric charts look.
CONTEXT_WINDOW = timedelta(minutes=30)
METRIC_MAX_POINTS_PER_SERIES = 400


def incident_list_for_console(*, filters: IncidentFilters) -> QuerySet[Incident]:
    """The dashboard's rows: the API's filters, with the affected services prefetched."""
    return incident_list(filters=filters).prefetch_related("services")


def incident_get_for_console(*, number: int) -> Incident:
    """One incident by its number, with what the header shows; raises Incident.DoesNotExist."""
    return (
        Incident.objects.select_related("root_cause_service", "pattern", "assignee")
        .prefetch_related("services")
        .get(number=number)
    )


def incident_get_for_row(*, incident_id: int) -> Incident | None:
    return (
        Incident.objects.select_related("root_cause_service", "pattern", "assignee")
        .prefetch_related("services")
        .filter(pk=incident_id)
        .first()
    )


SERVICE_SEARCH_LIMIT = 20


def service_search(*, q: str, limit: int = SERVICE_SEARCH_LIMIT) -> list[str]:
    """Service names for a picker: those starting with `q` first, then those containing it, each
    alphabetically; at most `limit` (there may be thousands of services: pages never list them all)."""
    q = q.strip()
    names = Service.objects.order_by("name").values_list("name", flat=True)
    if not q:
        return list(names[:limit])
    found = list(names.filter(name__istartswith=q)[:limit])
    if len(found) < limit:
        found += list(names.filter(name__icontains=q).exclude(name__istartswith=q)[: limit - len(found)])
    return found


def stats_trend(*, since: datetime | None, until: datetime | None, now: datetime) -> dict:
    """Alerts and new incidents per bucket over the range: minutes, hours or days, by its span."""
    # Clamped to the computable range: an event stored at year 1 must not stretch the chart's
    # axis (or its arithmetic) to year 1.
    start = since
    if start is None:
        start = rollups.first_hour(not_before=COMPUTABLE_FROM) or now
    start = min(max(start, COMPUTABLE_FROM), COMPUTABLE_UNTIL)
    end = min(max(until or now, COMPUTABLE_FROM), COMPUTABLE_UNTIL)
    span = end - start
    if span <= timedelta(hours=2):
        trunc, unit = TruncMinute, "minute"
    elif span <= timedelta(days=3):
        trunc, unit = TruncHour, "hour"
    else:
        trunc, unit = TruncDay, "day"
    # Alerts from the hourly rollups (and the events of the partial hours at the ends).
    alert_buckets = rollups.event_buckets(type_=Event.Type.ALERT, since=start, until=end, unit=unit)
    incidents = Incident.objects.filter(started_at__gte=start, started_at__lte=end)
    incident_buckets = dict(
        incidents.annotate(b=trunc("started_at")).order_by().values_list("b").annotate(n=Count("*")).values_list("b", "n")
    )
    keys = sorted(set(alert_buckets) | set(incident_buckets))
    return {
        "unit": unit,
        "buckets": keys,
        "alerts": [alert_buckets.get(k, 0) for k in keys],
        "incidents": [incident_buckets.get(k, 0) for k in keys],
    }


def incident_events_sample(*, incident: Incident, limit: int = 500) -> list[Event]:
    """The incident's events for the mini timeline (alerts and anomalies first if there are many)."""
    qs = incident.events.order_by("timestamp", "id")
    events = list(qs.filter(type__in=[Event.Type.ALERT, Event.Type.ANOMALY]).select_related("service")[:limit])
    if len(events) < limit:
        events += list(qs.filter(type__in=[Event.Type.LOG, Event.Type.METRIC]).select_related("service")[: limit - len(events)])
    return sorted(events, key=lambda e: (e.timestamp, e.pk))


SIMILAR_CANDIDATES = 300  # the most recent incidents before this one that are compared with it


def _profiles(incidents: list[Incident]) -> dict[int, IncidentProfile]:
    """Similarity profiles (incidents.similarity) of incidents: two queries for their events' templates and alerts."""
    ids = [i.pk for i in incidents]
    said: dict[int, set[str]] = {pk: set() for pk in ids}
    for incident_id, template_id in (Event.objects.filter(incident_id__in=ids, template__isnull=False)
                                     .values_list("incident_id", "template_id").distinct().order_by()):
        said[incident_id].add(f"template:{template_id}")
    for incident_id, fingerprint in (Event.objects.filter(incident_id__in=ids, type=Event.Type.ALERT).exclude(fingerprint="")
                                     .values_list("incident_id", "fingerprint").distinct().order_by()):
        said[incident_id].add(f"alert:{fingerprint}")
    out = {}
    for i in incidents:
        services = frozenset(s.name for s in i.services.all())
        root = i.root_cause_service.name if i.root_cause_service_id else None
        types = frozenset(t for t in (i.pattern.slug if i.pattern_id else "", i.incident_type, *[str(x) for x in i.tags]) if t)
        minutes = (max(0.0, (i.resolved_at - i.started_at).total_seconds() / 60)
                   if i.status == Incident.Status.RESOLVED and i.resolved_at else None)
        out[i.pk] = IncidentProfile(i.pk, services | ({root} if root else frozenset()), root, frozenset(said[i.pk]), types, minutes,
                                    label=f"#{i.number}")
    return out


def incident_similar(*, incident: Incident, k: int = 5, resolved_only: bool = False) -> dict:
    """Past incidents most like this one (incidents.similarity: services, templates and alerts, types,
    root cause, topology), each with its score and reasons, and the time-to-resolve estimate they give.

    Returns {"similar": [SimilarIncident], "incidents": {id: Incident}, "estimate": dict | None}.
    """
    pool = Incident.objects.exclude(pk=incident.pk).filter(started_at__lte=incident.started_at)
    if resolved_only:
        pool = pool.filter(status=Incident.Status.RESOLVED, resolved_at__isnull=False)
    candidates = list(pool.select_related("root_cause_service", "pattern").prefetch_related("services")
                      .order_by("-started_at")[:SIMILAR_CANDIDATES])
    target = Incident.objects.select_related("root_cause_service", "pattern").prefetch_related("services").get(pk=incident.pk)
    profiles = _profiles([target, *candidates])
    graph: dict[str, list[str]] = {}
    for src, dst in Service.depends_on.through.objects.values_list("from_service__name", "to_service__name"):
        graph.setdefault(src, []).append(dst)
    found: list[SimilarIncident] = similar_incidents(profiles[target.pk], [profiles[c.pk] for c in candidates], k=k, graph=graph)
    by_id = {c.pk: c for c in candidates}
    return {"similar": found, "incidents": {s.profile.id: by_id[s.profile.id] for s in found}, "estimate": resolve_estimate(found)}


def incident_related(*, incident: Incident, limit: int = 5) -> dict[str, list[Incident]]:
    """Other incidents like this one: sharing its services, its pattern, or its alerts' signatures."""
    base = Incident.objects.exclude(pk=incident.pk).select_related("root_cause_service")
    service_ids = [s.pk for s in incident.services.all()]
    if incident.root_cause_service_id and incident.root_cause_service_id not in service_ids:
        service_ids.append(incident.root_cause_service_id)
    same_services: list[Incident] = []
    if service_ids:
        same_services = list(
            base.filter(services__in=service_ids)
            .annotate(shared=Count("services", distinct=True))
            .order_by("-shared", "-started_at")[:limit]
        )
    same_pattern: list[Incident] = []
    if incident.pattern_id:
        same_pattern = list(base.filter(pattern_id=incident.pattern_id).order_by("-started_at")[:limit])
    # Signatures: the fingerprints of this incident's alerts and anomalies (the ingest's
    # "service:normalised message"); served by the partial index event_fingerprint_incident.
    fingerprints = list(
        incident.events.filter(type__in=[Event.Type.ALERT, Event.Type.ANOMALY])
        .exclude(fingerprint="")
        .order_by()
        .values_list("fingerprint")
        .annotate(n=Count("id"))
        .order_by("-n")
        .values_list("fingerprint", flat=True)[:5]
    )
    similar: list[Incident] = []
    if fingerprints:
        ids = list(
            Event.objects.filter(fingerprint__in=fingerprints, incident__isnull=False)
            .exclude(incident_id=incident.pk)
            .order_by()
            .values_list("incident_id")
            .annotate(n=Count("id"))
            .order_by("-n")
            .values_list("incident_id", flat=True)[:limit]
        )
        by_id = base.in_bulk(ids)
        similar = [by_id[i] for i in ids if i in by_id]
    scored = incident_similar(incident=incident, k=limit)
    most_similar = []
    for s in scored["similar"]:
        item = scored["incidents"][s.profile.id]
        item.similarity_score, item.similarity_reasons = s.similarity.score, list(s.similarity.reasons)
        most_similar.append(item)
    return {"same_services": same_services, "same_pattern": same_pattern, "similar_signature": similar, "most_similar": most_similar}


@dataclass(frozen=True)
class TimelineFilters:
    types: list[str] | None = None
    severities: list[str] | None = None
    service: str | None = None
    q: str | None = None


TIMELINE_LEAD = timedelta(minutes=15)


def incident_timeline_scope(*, incident: Incident) -> QuerySet:
    """What the timeline shows: the incident's events, plus the metric points and anomalies of its
    services from 15 minutes before it started to its end. The engine attaches alerts, logs and
    the anomalies it takes as evidence; metrics (and anomalies it left alone) stay unattached, and
    the timeline is where logs, metrics and alerts meet on one axis."""
    end = incident.resolved_at or max(incident.last_event_at, incident.started_at)
    nearby = Q(
        incident__isnull=True, type__in=[Event.Type.METRIC, Event.Type.ANOMALY],
        service_id__in=incident.services.values("id"), timestamp__gte=incident.started_at - TIMELINE_LEAD, timestamp__lte=end,
    )
    return Event.objects.filter(Q(incident=incident) | nearby)


def incident_timeline_events(*, incident: Incident, filters: TimelineFilters) -> tuple[list[Event], int]:
    """The incident's events matching the filters, oldest first, at most TIMELINE_MAX_POINTS; and how many matched."""
    qs = incident_timeline_scope(incident=incident).select_related("service")
    if filters.types:
        qs = qs.filter(type__in=filters.types)
    if filters.severities:
        qs = qs.filter(severity__in=filters.severities)
    if filters.service:
        qs = qs.filter(service__name=filters.service)
    if filters.q:
        qs = qs.filter(message__icontains=filters.q)
    total = qs.count()
    if total <= TIMELINE_MAX_POINTS:
        return list(qs.order_by("timestamp", "id")), total
    # Too many to draw: keep every alert and anomaly, thin out logs and metrics evenly.
    important = list(qs.filter(type__in=[Event.Type.ALERT, Event.Type.ANOMALY]).order_by("timestamp", "id")[:TIMELINE_MAX_POINTS])
    room = TIMELINE_MAX_POINTS - len(important)
    rest: list[Event] = []
    if room > 0:
        others = qs.filter(type__in=[Event.Type.LOG, Event.Type.METRIC])
        step = max(1, others.count() // room)
        rest = list(others.order_by("timestamp", "id")[: room * step : step])
    return sorted([*important, *rest], key=lambda e: (e.timestamp, e.pk)), total


def incident_event_get(*, incident: Incident, event_id: int) -> Event | None:
    return incident_timeline_scope(incident=incident).select_related("service").filter(pk=event_id).first()


def hypothesis_evidence(hypothesis: Hypothesis | None) -> list[tuple[Evidence, Event]]:
    """A hypothesis's evidence with its stored events (one query), in the hypothesis's order;
    evidence whose event is gone is left out. The console's root-cause step and the notifications
    (integrations.facts) both read evidence here."""
    if hypothesis is None or not hypothesis.evidence:
        return []
    events = {e.pk: e for e in Event.objects.filter(pk__in=[ev.event for ev in hypothesis.evidence]).select_related("service")}
    return [(ev, events[ev.event]) for ev in hypothesis.evidence if ev.event in events]




def evidence_weighed(hypothesis: Hypothesis | None) -> list[dict]:
    """A hypothesis's evidence as the console and the notifications show it: each stored event with
    its share of the evidence (`weight`) and its weight against the strongest (`relative`), the
    strongest first. An event the engine did not weigh counts by severity and type."""
    rows = [
        {"event": event, "raw_weight": ev.weight if ev.weight is not None else evidence_weight(severity=event.severity, type=event.type)}
        for ev, event in hypothesis_evidence(hypothesis)
    ]
    total = sum(r["raw_weight"] for r in rows) or 1.0
    top_weight = max((r["raw_weight"] for r in rows), default=1.0) or 1.0
    return sorted(
        ({"event": r["event"], "weight": r["raw_weight"] / total, "relative": r["raw_weight"] / top_weight} for r in rows),
        key=lambda r: (-r["weight"], r["event"].timestamp),
    )


def _incident_window(incident: Incident, now: datetime) -> tuple[datetime, datetime]:
    end = incident.resolved_at or max(incident.last_event_at, min(now, incident.last_event_at + CONTEXT_WINDOW))
    return incident.started_at, end


def incident_logs(*, incident: Incident, q: str = "", beyond: bool = False, now: datetime) -> tuple[list[Event], bool]:
    """Log events: the incident's own, or (beyond) every log of its services around its window.

    Returns at most LOG_LIMIT, newest first, and whether there were more.
    """
    if beyond:
        start, end = _incident_window(incident, now)
        service_ids = [s.pk for s in incident.services.all()] or ([incident.root_cause_service_id] if incident.root_cause_service_id else [])
        qs = Event.objects.filter(
            service_id__in=service_ids, timestamp__gte=start - CONTEXT_WINDOW, timestamp__lte=end + CONTEXT_WINDOW
        )  # event_service_ts
    else:
        qs = incident.events.all()  # event_incident_ts
    qs = qs.filter(type=Event.Type.LOG).select_related("service", "template")
    if q:
        qs = qs.filter(message__icontains=q)
    rows = list(qs.order_by("-timestamp", "-id")[: LOG_LIMIT + 1])
    return rows[:LOG_LIMIT], len(rows) > LOG_LIMIT


def incident_metric_series(*, incident: Incident, now: datetime) -> dict:
    """Metric points of the affected services around the incident, by metric then service, with anomalies.

    Returns {"metrics": {metric: {service: [(ts, value)]}}, "anomalies": {metric: [(ts, value, service, message)]}}.
    Long series are thinned evenly to METRIC_MAX_POINTS_PER_SERIES points.
    """
    start, end = _incident_window(incident, now)
    start, end = start - CONTEXT_WINDOW, end + CONTEXT_WINDOW
    services = {s.pk: s.name for s in incident.services.all()}
    if incident.root_cause_service_id:
        services.setdefault(incident.root_cause_service_id, incident.root_cause_service.name)
    rows = (
        Event.objects.filter(service_id__in=list(services), type=Event.Type.METRIC, timestamp__gte=start, timestamp__lte=end)
        .exclude(metric="")
        .order_by("timestamp")
        .values_list("service_id", "metric", "timestamp", "value")
    )  # event_service_ts
    metrics: dict[str, dict[str, list]] = {}
    for sid, metric, ts, value in rows.iterator(chunk_size=5000):
        if value is None:
            continue
        metrics.setdefault(metric, {}).setdefault(services[sid], []).append((ts, value))
    for by_service in metrics.values():
        for name, points in by_service.items():
            if len(points) > METRIC_MAX_POINTS_PER_SERIES:
                step = len(points) / METRIC_MAX_POINTS_PER_SERIES
                by_service[name] = [points[int(i * step)] for i in range(METRIC_MAX_POINTS_PER_SERIES)]
    anomalies: dict[str, list] = {}
    for sid, metric, ts, value, message in (
        Event.objects.filter(service_id__in=list(services), type=Event.Type.ANOMALY, timestamp__gte=start, timestamp__lte=end)
        .order_by("timestamp")
        .values_list("service_id", "metric", "timestamp", "value", "message")[:500]
    ):
        if metric:
            anomalies.setdefault(metric, []).append((ts, value, services[sid], message))
    return {"metrics": dict(sorted(metrics.items())), "anomalies": anomalies}


def incident_alert_history(*, incident: Incident, now: datetime) -> list[Event]:
    """Alerts of the affected services over the ALERT_HISTORY_DAYS before the incident ended, newest first."""
    _, end = _incident_window(incident, now)
    service_ids = [s.pk for s in incident.services.all()]
    return list(
        Event.objects.filter(
            service_id__in=service_ids, type=Event.Type.ALERT,
            timestamp__gte=end - timedelta(days=ALERT_HISTORY_DAYS), timestamp__lte=end,
        )
        .select_related("service", "incident")
        .order_by("-timestamp", "-id")[:ALERT_HISTORY_LIMIT]
    )


def incident_events_for_export(*, incident: Incident):
    """Every event of the incident, oldest first, streamed (for the JSON and CSV exports)."""
    return incident.events.select_related("service").order_by("timestamp", "id").iterator(chunk_size=2000)


def incident_notes(*, incident: Incident) -> list:
    return list(incident.notes.select_related("author").order_by("created_at", "id"))


def incident_audit_trail(*, incident: Incident, limit: int = 200) -> list:
    """The newest audit entries, oldest first."""
    rows = list(incident.timeline.select_related("actor").order_by("-created_at", "-id")[:limit])
    return rows[::-1]


def incident_last_change(*, incident: Incident, kind: str):
    """The newest audit entry of this kind (who changed the status or the assignee, and when)."""
    return incident.timeline.filter(kind=kind).select_related("actor").order_by("-created_at", "-id").first()


def assignable_users() -> QuerySet:
    from django.contrib.auth import get_user_model

    return get_user_model().objects.filter(is_active=True).order_by("username")


def incident_feedback(*, incident: Incident) -> list:
    return list(incident.feedback.select_related("user", "correct_service").order_by("-created_at", "-id"))


def incident_types() -> list[str]:
    """Known incident types: the pattern library's and the ones engineers already used."""
    types = set(Pattern.objects.exclude(incident_type="").values_list("incident_type", flat=True))
    types |= set(Incident.objects.exclude(incident_type="").order_by().values_list("incident_type", flat=True).distinct()[:200])
    return sorted(types)


def pattern_discovery_report(*, weeks: int = 6, now: datetime | None = None) -> dict:
    """The weekly report of the patterns Cleara discovered (origin learned, proposed by the weekly
    clustering, correlation.insights.patterns_discover): per week, newest first, how many it
    proposed and what the curators made of them, and the proposals still waiting for a curator."""
    now = now or timezone.now()
    week = timedelta(days=7)
    learned = Pattern.objects.filter(origin=Pattern.Origin.LEARNED)
    rows = [{"start": now - (i + 1) * week, "end": now - i * week, "total": 0, **{state: 0 for state in Pattern.State.values}}
            for i in range(weeks)]
    for created_at, state in learned.filter(created_at__gt=now - weeks * week, created_at__lte=now).values_list("created_at", "state"):
        row = rows[min(weeks - 1, int((now - created_at) / week))]
        row[state] += 1
        row["total"] += 1
    waiting = learned.filter(state=Pattern.State.PROPOSED)
    return {"weeks": rows, "last_7_days": rows[0]["total"], "waiting": list(waiting.order_by("-created_at")[:10]),
            "waiting_count": waiting.count()}


def pattern_list() -> list:
    """The pattern library with how many incidents each matched."""
    return list(Pattern.objects.annotate(incident_count=Count("incidents")).order_by("-enabled", "name"))
