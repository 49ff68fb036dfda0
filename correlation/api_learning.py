"""/api/v1/ml/... for pattern learning: log templates, classifying a text, similar incidents,
proposed patterns and the risk forecast. Mounted on correlation.api's ml_router (same auth)."""
from __future__ import annotations

from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from django_q.tasks import async_task
from ninja import Schema, Status

from access.roles import Action
from cleara.auth import allowed
from correlation import insights, text_training
from correlation.api import ml_router
from incidents import selectors as incident_selectors
from incidents.errors import IngestRejected
from incidents.models import Incident, LogTemplate, Pattern

MAX_TEXT_CHARS = 20_000
MAX_LIMIT = 500


class ClassifyIn(Schema):
    text: str


def _limit(limit: int) -> int:
    if not 1 <= limit <= MAX_LIMIT:
        raise IngestRejected(f"limit must be between 1 and {MAX_LIMIT}")
    return limit


@ml_router.get("/templates", response={200: dict, 400: dict}, summary="Log templates, most frequent first")
def ml_templates(request: HttpRequest, q: str = "", limit: int = 100):
    qs = LogTemplate.objects.filter(merged_into__isnull=True).order_by("-size", "pk")
    if q.strip():
        qs = qs.filter(text__icontains=q.strip()[:200])
    return {"templates": [{"id": t.pk, "template": t.text, "count": t.size, "first_seen": t.first_seen, "last_seen": t.last_seen}
                          for t in qs[:_limit(limit)]]}


@ml_router.post("/classify", response={200: dict, 400: dict, 413: dict}, summary="Incident types of a posted text")
def ml_classify(request: HttpRequest, payload: ClassifyIn):
    text = payload.text or ""
    if not text.strip():
        raise IngestRejected("empty text: send a log line, an alert message or an incident's messages")
    if len(text) > MAX_TEXT_CHARS:
        raise IngestRejected(f"text of {len(text)} characters; at most {MAX_TEXT_CHARS}", status=413)
    types, version = text_training.text_classify(text)
    return {"types": [{"type": t, "probability": round(p, 4)} for t, p in types],
            "model": {"kind": version.kind, "version": version.version} if version else None}


@ml_router.get("/incidents/{int:incident_id}/type", response={200: dict, 404: dict}, summary="Incident types of an incident as a whole")
def ml_incident_type(request: HttpRequest, incident_id: int):
    incident = get_object_or_404(Incident, pk=incident_id)
    text = text_training.incident_text(incident)
    if not text:
        return {"incident": incident.number, "types": [], "detail": "the incident has no alert or error log text yet"}
    types, version = text_training.text_classify(text)
    return {"incident": incident.number, "types": [{"type": t, "probability": round(p, 4)} for t, p in types],
            "model": {"kind": version.kind, "version": version.version} if version else None}


@ml_router.get("/incidents/{int:incident_id}/similar", response={200: dict, 400: dict, 404: dict},
               summary="Similar past incidents, with a score and the reasons")
def ml_similar(request: HttpRequest, incident_id: int, limit: int = 5):
    incident = get_object_or_404(Incident, pk=incident_id)
    found = incident_selectors.incident_similar(incident=incident, k=_limit(limit))
    return {
        "incident": incident.number,
        "similar": [{"id": s.profile.id, "number": s.profile.label, "score": s.similarity.score,
                     "parts": s.similarity.parts, "reasons": list(s.similarity.reasons),
                     "minutes_to_resolve": s.profile.minutes_to_resolve} for s in found["similar"]],
        "estimate": found["estimate"],
    }


@ml_router.get("/patterns/proposed", summary="Patterns learned from incident clusters, waiting for curation")
def ml_patterns_proposed(request: HttpRequest):
    qs = Pattern.objects.filter(origin=Pattern.Origin.LEARNED).order_by("-created_at")
    return {
        "discovered_last_7_days": insights.patterns_discovered_count(),
        "patterns": [{"id": p.pk, "slug": p.slug, "name": p.name, "state": p.state, "incident_type": p.incident_type,
                      "keywords": p.signals.get("keywords", []), "examples": p.signals.get("examples", []),
                      "description": p.description, "created_at": p.created_at} for p in qs[:MAX_LIMIT]],
    }


@ml_router.post("/patterns/discover", auth=allowed(Action.MANAGE_PATTERNS), response={202: dict}, summary="Cluster recent incidents for new patterns (queued)")
def ml_patterns_discover(request: HttpRequest):
    return Status(202, {"task": async_task("correlation.tasks.discover_patterns")})


@ml_router.get("/forecast", response={200: dict, 400: dict}, summary="Per-service risk for the next hours")
def ml_forecast(request: HttpRequest, horizon: int = 2):
    if not 1 <= horizon <= 24:
        raise IngestRejected("horizon must be between 1 and 24 hours")
    return insights.risk_forecast(horizon=horizon)


@ml_router.post("/models/incident-types/train", auth=allowed(Action.MANAGE_MODELS), response={202: dict}, summary="Retrain the incident-type classifier (queued)")
def ml_types_train(request: HttpRequest):
    return Status(202, {"task": async_task("correlation.tasks.retrain_type_classifier", "on demand")})
