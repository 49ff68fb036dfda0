"""/api/v1/ml/...: the model registry, ad-hoc scoring of a posted series, recent anomalies.
(The ingest endpoint, POST /api/v1/events, is incidents.api's.)"""
import math

from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Field, Router, Schema, Status

from access.roles import Action
from cleara.auth import allowed
from correlation import selectors
from correlation.detectors import DETECTORS, make_detector
from correlation.models import ModelVersion
from correlation.runs import training_request
from correlation.training import ANOMALY_KIND, TRAIN_DAYS, ModelRegistryError, model_activate, model_rollback
from incidents.errors import IngestRejected
from incidents.ingest import timestamp_parse
from incidents.models import Event

# --- /api/v1/ml: the model registry, ad-hoc scoring, recent anomalies -------------------------

ml_router = Router(tags=["ml"], auth=allowed(Action.VIEW))  # reads; a write names its own action

MAX_SCORE_POINTS = 20_000


class TrainIn(Schema):
    kind: str = ANOMALY_KIND
    detector: str | None = None
    days: int = TRAIN_DAYS
    activate: bool = False


class ScoreIn(Schema):
    timestamps: list = Field(..., description="ISO-8601 strings or epoch seconds, strictly increasing")
    values: list = Field(..., description="numbers, one per timestamp")
    detector: str = "ensemble"


def _model_out(v: ModelVersion) -> dict:
    size = getattr(v, "artefact_bytes", None)
    if size is None:
        size = len(v.artefact) if v.artefact else 0
    return {
        "id": v.pk, "kind": v.kind, "version": v.version, "active": v.active,
        "trained_at": v.trained_at, "parameters": v.parameters, "metrics": v.metrics,
        "data_start": v.data_start, "data_end": v.data_end, "notes": v.notes,
        "artefact_bytes": size or 0,
    }


@ml_router.get("/models", summary="List model versions and their metrics")
def ml_models_list(request: HttpRequest, kind: str | None = None):
    return {"models": [_model_out(v) for v in selectors.model_list(kind=kind)]}


@ml_router.post("/models/train", auth=allowed(Action.MANAGE_MODELS), response={202: dict, 400: dict}, summary="Train a new model version (queued)")
def ml_models_train(request: HttpRequest, payload: TrainIn):
    parameters = {"detector": payload.detector} if payload.detector else None
    if payload.kind != ANOMALY_KIND:
        raise IngestRejected(f"unknown model kind {payload.kind!r}; this registry trains {ANOMALY_KIND!r}")
    if payload.detector and payload.detector not in DETECTORS:
        raise IngestRejected(f"unknown detector {payload.detector!r}; choose from {', '.join(DETECTORS)}")
    if not 1 <= payload.days <= 365:
        raise IngestRejected("days must be between 1 and 365")
    run = training_request(kind=payload.kind, parameters=parameters, days=payload.days, activate=payload.activate, reason="api")
    return Status(202, {"run": run.pk, "kind": payload.kind, "status": run.status})


@ml_router.post("/models/{int:model_id}/activate", auth=allowed(Action.MANAGE_MODELS), summary="Make a model version live")
def ml_models_activate(request: HttpRequest, model_id: int):
    version = get_object_or_404(ModelVersion, pk=model_id)
    return _model_out(model_activate(model_version=version))


@ml_router.post("/models/{kind}/rollback", auth=allowed(Action.MANAGE_MODELS), response={200: dict, 400: dict}, summary="Re-activate the previous version")
def ml_models_rollback(request: HttpRequest, kind: str):
    try:
        return _model_out(model_rollback(kind=kind))
    except ModelRegistryError as exc:
        raise IngestRejected(str(exc)) from exc


@ml_router.post("/score", auth=allowed(Action.SCORE), response={200: dict, 400: dict}, summary="Score a posted series point by point")
def ml_score(request: HttpRequest, payload: ScoreIn):
    """Runs a fresh detector over the series from a cold start (the first points are warm-up and
    score 0) and returns each point's score, the expected range and whether it would alarm."""
    epochs, values = _series_validate(payload)
    try:
        detector = make_detector(payload.detector)
    except ValueError as exc:
        raise IngestRejected(str(exc)) from exc
    points = []
    for t, v in zip(epochs, values):
        p = detector.update(t, v)
        points.append({
            "score": round(p.score, 6),
            "is_anomaly": p.is_anomaly,
            "warming_up": p.warming_up,
            "expected_low": None if p.warming_up or not math.isfinite(p.expected_low) else p.expected_low,
            "expected_high": None if p.warming_up or not math.isfinite(p.expected_high) else p.expected_high,
        })
    return {"detector": payload.detector, "points": points, "anomalies": [i for i, p in enumerate(points) if p["is_anomaly"]]}


def _series_validate(payload: ScoreIn) -> tuple[list[float], list[float]]:
    if not payload.values or not payload.timestamps:
        raise IngestRejected("empty series: send at least one timestamp and value")
    if len(payload.values) != len(payload.timestamps):
        raise IngestRejected(f"{len(payload.timestamps)} timestamps but {len(payload.values)} values")
    if len(payload.values) > MAX_SCORE_POINTS:
        raise IngestRejected(f"{len(payload.values)} points; at most {MAX_SCORE_POINTS} per request", status=413)
    values = []
    for i, v in enumerate(payload.values):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise IngestRejected(f"values[{i}]: {v!r} is not a finite number")
        values.append(float(v))
    epochs = []
    for i, raw in enumerate(payload.timestamps):
        try:
            epochs.append(timestamp_parse(raw).timestamp())
        except (ValueError, OverflowError, OSError) as exc:
            raise IngestRejected(f"timestamps[{i}]: {exc}") from exc
        if i and epochs[i] <= epochs[i - 1]:
            raise IngestRejected(f"timestamps must be strictly increasing: timestamps[{i}] is not after timestamps[{i - 1}]")
    return epochs, values


@ml_router.get("/anomalies", summary="Recent anomaly events")
def ml_anomalies_list(request: HttpRequest, service: str | None = None, limit: int = 50):
    if not 1 <= limit <= 500:
        raise IngestRejected("limit must be between 1 and 500")
    events = Event.objects.filter(type=Event.Type.ANOMALY).select_related("service").order_by("-timestamp", "-pk")
    if service:
        events = events.filter(service__name=service)
    return {"anomalies": [
        {"id": e.pk, "timestamp": e.timestamp, "service": e.service.name, "metric": e.metric, "host": e.host,
         "value": e.value, "severity": e.severity, "message": e.message, "incident": e.incident_id,
         "score": e.attributes.get("score"), "expected_low": e.attributes.get("expected_low"),
         "expected_high": e.attributes.get("expected_high"), "votes": e.attributes.get("votes")}
        for e in events[:limit]
    ]}


# The pattern-learning endpoints (templates, classify, similar incidents, proposed patterns,
# forecast) are declared on the same router in their own module.
from correlation import api_learning  # noqa: E402, F401
