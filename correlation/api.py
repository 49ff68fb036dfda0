"""POST /api/v1/events: the ingest endpoint (token auth), through the same pipeline as replay."""
from django.http import HttpRequest
from ninja import Router, Status

from cleara.auth import TokenAuth
from correlation.pipeline import events_ingest
from incidents.ingest import batch_parse, batch_validate

router = Router(tags=["events"])

EVENT_SCHEMA = {
    "type": "object",
    "required": ["timestamp", "service", "type"],
    "properties": {
        "id": {"type": "string", "description": "client id; the same id is never stored twice"},
        "timestamp": {"type": "string", "format": "date-time"},
        "service": {"type": "string"},
        "type": {"type": "string", "enum": ["alert", "log", "metric"]},
        "severity": {"type": "string", "enum": ["critical", "warning", "info"]},
        "message": {"type": "string"},
        "metric": {"type": "string"},
        "value": {"type": "number"},
        "host": {"type": "string"},
        "fingerprint": {"type": "string"},
        "attributes": {"type": "object"},
    },
}


@router.post(
    "/events",
    auth=TokenAuth(),
    response={202: dict, 400: dict, 401: dict, 413: dict, 415: dict},
    summary="Ingest a batch of events",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"type": "array", "maxItems": 5000, "items": EVENT_SCHEMA}},
                "application/x-ndjson": {"schema": EVENT_SCHEMA},
            },
        }
    },
)
def events_post(request: HttpRequest):
    """Up to 5,000 events as a JSON array or JSON Lines. Refused whole if any event is invalid;
    committed before 202 answers; an `id` sent again is not stored again."""
    items = batch_parse(body=request.body, content_type=request.content_type or request.headers.get("Content-Type", ""))
    events = batch_validate(items)
    result = events_ingest(events=events)
    return Status(202, {
        "accepted": result.accepted,
        "duplicates": result.duplicates,
        "anomalies": result.anomalies,
        "incidents": result.incident_ids,
    })
