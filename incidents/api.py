"""The incident domain's API: events in (POST /api/v1/events, token auth, through the same
pipeline as replay), incidents out, topology in and out, stats: read by people (session) and
machines (token)."""
from __future__ import annotations

import json
import time
from datetime import datetime

from django.core.paginator import Paginator
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Query, Router, Schema, Status

from access.roles import Action
from cleara.auth import allowed
from incidents import queue, selectors, topology
from incidents.errors import IngestRejected
from incidents.ingest import MAX_LEN, events_accept, timestamp_parse
from incidents.models import Event, Incident, Severity
from incidents.pipeline import events_ingest

events_router = Router(tags=["events"])

# The published schema is as strict as ingest.event_validate (Schemathesis checks that what it
# describes is accepted), except for what JSON Schema cannot say: the timestamp window around now
# (INGEST_MAX_PAST_DAYS / INGEST_MAX_FUTURE_HOURS) and the cap on new services per request.
TEXT = {"type": "string", "pattern": "^[^\\u0000]*$"}  # no NUL: PostgreSQL text cannot hold it
INT64 = {"minimum": -(2**63) + 1, "maximum": 2**63 - 1}  # a longer integer literal is refused (cleara.inputguard)
SCALAR = {"anyOf": [{**TEXT, "maxLength": 20000}, {"type": "number", **INT64}, {"type": "boolean"}, {"type": "null"}]}
EVENT_SCHEMA = {
    "type": "object",
    "required": ["timestamp", "service", "type"],
    "additionalProperties": False,
    "properties": {
        "id": {**TEXT, "minLength": 1, "maxLength": MAX_LEN["id"], "description": "client id; the same id is never stored twice"},
        "timestamp": {"type": "string", "format": "date-time",
                      "description": "from INGEST_MAX_PAST_DAYS (30) days ago to INGEST_MAX_FUTURE_HOURS (24) hours ahead"},
        "service": {**TEXT, "pattern": "^[^\\u0000]*[^\\s\\u0000][^\\u0000]*$", "maxLength": MAX_LEN["service"]},
        "type": {"type": "string", "enum": ["alert", "log", "metric"]},
        "severity": {"type": "string", "enum": ["critical", "warning", "info"]},
        "message": {**TEXT, "maxLength": MAX_LEN["message"]},
        "metric": {**TEXT, "maxLength": MAX_LEN["metric"]},
        "value": {"type": "number", **INT64},
        "host": {**TEXT, "maxLength": MAX_LEN["host"]},
        "fingerprint": {**TEXT, "maxLength": MAX_LEN["fingerprint"]},
        "attributes": {"type": "object", "maxProperties": 100, "propertyNames": {**TEXT, "maxLength": 200}, "additionalProperties": SCALAR},
    },
    # A metric event names its metric and value; an alert or a log says something.
    "allOf": [
        {"if": {"properties": {"type": {"const": "metric"}}, "required": ["type"]},
         "then": {"required": ["metric", "value"], "properties": {"metric": {"minLength": 1}}}},
        {"if": {"properties": {"type": {"enum": ["alert", "log"]}}, "required": ["type"]},
         "then": {"required": ["message"]}},
    ],
}


@events_router.post(
    "/events",
    auth=allowed(Action.INGEST),
    response={202: dict, 400: dict, 401: dict, 403: dict, 413: dict, 415: dict, 422: dict, 503: dict},
    summary="Ingest a batch of events",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"type": "array", "minItems": 1, "maxItems": 5000, "items": EVENT_SCHEMA}},
                "application/x-ndjson": {"schema": EVENT_SCHEMA},
            },
        }
    },
)
def events_post(request: HttpRequest):
    """Up to 5,000 events as a JSON array or JSON Lines. Refused whole if any event is invalid;
    committed before 202 answers; an `id` sent again is not stored again. With the ingest queue
    (Redis configured, INGEST_ASYNC) anomaly detection and correlation run in the workers after
    the answer, so `anomalies` is 0 and `incidents` empty; processed inline (the embedded default)
    they say what the batch found and changed."""
    arrived_at = time.time()
    events = events_accept(body=request.body, content_type=request.content_type or request.headers.get("Content-Type", ""),
                           parsed=getattr(request, "parsed_json", None))
    return Status(202, events_ingest(events=events, arrived_at=arrived_at).answer())


router = Router(auth=allowed(Action.VIEW))  # reads; a write names its own action


def _time(raw: str | None, name: str) -> datetime | None:
    if not raw:
        return None
    try:
        return timestamp_parse(raw)
    except ValueError as exc:
        raise IngestRejected(f"{name}: {exc}") from exc


def _choices(raw: str | None, allowed: list[str], name: str) -> list[str] | None:
    if not raw:
        return None
    values = [v.strip() for v in raw.split(",") if v.strip()]
    bad = [v for v in values if v not in allowed]
    if bad:
        raise IngestRejected(f"{name}: {', '.join(bad)} not one of {', '.join(allowed)}")
    return values


class EvidenceOut(Schema):
    """One event supporting a hypothesis (incidents.analysis.Evidence)."""

    event: int
    client_id: str | None
    weight: float | None


class HypothesisOut(Schema):
    """A root-cause hypothesis (incidents.analysis.Hypothesis), best first."""

    service: str
    score: float
    pattern: str | None
    reasons: list[str]
    evidence: list[EvidenceOut]


class IncidentOut(Schema):
    id: int
    number: int
    title: str
    status: str
    severity: str
    started_at: str
    last_event_at: str
    resolved_at: str | None
    root_cause_service: str | None
    root_cause_candidates: list[str]
    confidence: float
    pattern: str | None
    incident_type: str
    summary: str
    hypotheses: list[HypothesisOut]
    services: list[str]
    assignee: str | None
    tags: list
    event_count: int
    alert_count: int
    url: str


class IncidentDetailOut(IncidentOut):
    event_ids: list[str]


class IncidentPageOut(Schema):
    count: int
    page: int
    pages: int
    page_size: int
    results: list[IncidentOut]


class IncidentQuery(Schema):
    status: str | None = None
    severity: str | None = None
    service: str | None = None
    since: str | None = None
    until: str | None = None
    q: str | None = None
    page: int = 1
    page_size: int = 50


@router.get("/incidents", tags=["incidents"], response=IncidentPageOut, summary="List incidents")
def incidents_list(request: HttpRequest, query: IncidentQuery = Query(...)):
    """Filters: status and severity (comma-separated), service, since/until (ISO-8601, overlap), q; paginated."""
    if not 1 <= query.page_size <= 500:
        raise IngestRejected("page_size must be between 1 and 500")
    if query.page < 1:
        raise IngestRejected("page must be 1 or more")
    filters = selectors.IncidentFilters(
        status=_choices(query.status, Incident.Status.values, "status"),
        severity=_choices(query.severity, Severity.values, "severity"),
        service=query.service,
        since=_time(query.since, "since"),
        until=_time(query.until, "until"),
        q=query.q,
    )
    paginator = Paginator(selectors.incident_list(filters=filters).prefetch_related("services"), query.page_size)
    page = paginator.get_page(query.page)
    return {
        "count": paginator.count,
        "page": page.number,
        "pages": paginator.num_pages,
        "page_size": query.page_size,
        "results": [selectors.incident_to_api(i, with_events=False) for i in page.object_list],
    }


def _incident(ref: str) -> Incident:
    """An incident by its id, or by its number as '#12' / 'n12'."""
    ref = ref.strip()
    if ref[:1] in ("#", "n") and ref[1:].isdigit():
        return get_object_or_404(Incident, number=int(ref[1:]))
    if not ref.isdigit():
        raise IngestRejected(f"{ref!r} is not an incident id")
    return get_object_or_404(Incident, pk=int(ref))


@router.get("/incidents/{ref}", tags=["incidents"], response=IncidentDetailOut, summary="One incident, with hypotheses and event ids")
def incidents_detail(request: HttpRequest, ref: str):
    return selectors.incident_to_api(_incident(ref))


@router.get("/incidents/{ref}/events", tags=["incidents"], summary="The events correlated to an incident")
def incidents_events(request: HttpRequest, ref: str, page: int = 1, page_size: int = 500):
    if not 1 <= page_size <= 5000:
        raise IngestRejected("page_size must be between 1 and 5000")
    incident = _incident(ref)
    qs = Event.objects.filter(incident=incident).select_related("service").order_by("timestamp", "id")
    paginator = Paginator(qs, page_size)
    current = paginator.get_page(page)
    return {
        "incident": incident.pk,
        "count": paginator.count,
        "page": current.number,
        "pages": paginator.num_pages,
        "results": [selectors.event_to_api(e) for e in current.object_list],
    }


@router.get("/services", tags=["topology"], summary="The service topology")
def services_list(request: HttpRequest):
    return {"services": selectors.service_topology()}


@router.post("/services", auth=allowed(Action.MANAGE_TOPOLOGY), tags=["topology"], summary="Create or update services and their dependencies")
def services_post(request: HttpRequest):
    """Body: {"services": [{"name", "tier", "team", "runbook_url", "depends_on": [...]}]}"""
    try:
        data = json.loads(request.body or b"null")
    except json.JSONDecodeError as exc:
        raise IngestRejected(f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from exc
    services = topology.topology_validate(data)
    count = topology.topology_apply(services=services)
    return {"updated": count, "services": selectors.service_topology()}


@router.get("/stats", tags=["incidents"], summary="Events, alerts, incidents and noise reduction for a range")
def stats(request: HttpRequest, since: str | None = None, until: str | None = None):
    """The range's figures, and `queue`: what waits for the ingest workers now, per kind of
    partition (messages, events, age of the oldest in seconds; zeros when ingest is inline)."""
    figures = selectors.stats_for_range(since=_time(since, "since"), until=_time(until, "until"))
    figures["queue"] = {lag.kind: {"messages": lag.messages, "events": lag.events, "oldest_seconds": round(lag.oldest_seconds, 3)}
                        for lag in queue.queue_lag()}
    return figures
