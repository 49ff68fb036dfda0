"""Webhooks in from other systems, under /api/v1/integrations/."""
import json

from django.conf import settings
from django.http import HttpRequest
from ninja import Router, Status

from access.roles import Action
from cleara.auth import ApiAuthError, allowed
from incidents.api import SCALAR
from incidents.errors import IngestRejected
from integrations.alertmanager.payload import MAX_ANNOTATION, MAX_LABEL_VALUE, MAX_SERVICE, SERVICE_LABELS
from integrations.alertmanager.services import alertmanager_receive
from integrations.pagerduty.services import WebhookSignatureInvalid, pagerduty_webhook_receive
from integrations.pagerduty.webhooks import WebhookInvalid

router = Router(tags=["integrations"])


# As strict as alertmanager.payload.batch_parse, except for the timestamp window around now
# (a firing alert's startsAt, a resolved one's endsAt) and the cap on new services per request.
_TEXT = {"type": "string", "pattern": "^[^\\u0000]*$"}
_LABELS = {"type": "object", "propertyNames": _TEXT, "additionalProperties": {**_TEXT, "maxLength": MAX_LABEL_VALUE}}
_ANNOTATIONS = {"type": "object", "propertyNames": _TEXT, "additionalProperties": {**_TEXT, "maxLength": MAX_ANNOTATION}}
_SERVICE_LABEL = {**_TEXT, "minLength": 1, "maxLength": MAX_SERVICE}
ALERT_SCHEMA = {
    "type": "object",
    "required": ["status", "labels", "startsAt"],
    "properties": {
        "status": {"type": "string", "enum": ["firing", "resolved"]},
        # The service is the first of these labels present (else the instance's host): at most 200 characters.
        "labels": {**_LABELS, "properties": {name: _SERVICE_LABEL for name in (*SERVICE_LABELS, "instance")}},
        "annotations": _ANNOTATIONS,
        "startsAt": {"type": "string", "format": "date-time"},
        "endsAt": {"type": "string", "format": "date-time", "description": "0001-01-01T00:00:00Z: not resolved (read as absent)"},
        "generatorURL": _TEXT,
        "fingerprint": _TEXT,
    },
    "propertyNames": _TEXT,
    "additionalProperties": SCALAR,
    "if": {"properties": {"status": {"const": "resolved"}}, "required": ["status"]},
    "then": {"required": ["endsAt"]},
}
ALERTMANAGER_SCHEMA = {
    "type": "object",
    "required": ["version", "alerts"],
    "propertyNames": _TEXT,
    "additionalProperties": SCALAR,
    "properties": {
        "version": {"type": "string", "enum": ["4"]},
        "groupKey": _TEXT, "status": _TEXT, "receiver": _TEXT, "externalURL": _TEXT,
        "truncatedAlerts": {"type": "integer", "minimum": 0, "maximum": 2**63 - 1},
        "groupLabels": _LABELS, "commonLabels": {**_LABELS, "properties": {name: _SERVICE_LABEL for name in SERVICE_LABELS}}, "commonAnnotations": _ANNOTATIONS,
        "alerts": {"type": "array", "items": ALERT_SCHEMA, "maxItems": settings.ALERTMANAGER_MAX_ALERTS,
                   "description": "at most ALERTMANAGER_MAX_ALERTS (1000) per request (413 beyond)"},
    },
}


@router.post(
    "/alertmanager", auth=allowed(Action.INGEST), response={202: dict, 400: dict, 401: dict, 403: dict, 413: dict, 415: dict, 422: dict, 503: dict},
    openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": ALERTMANAGER_SCHEMA}}}},
)
def alertmanager_webhook(request: HttpRequest):
    """Prometheus Alertmanager webhook (payload version 4). Configure `http_config.authorization`
    with `credentials: <Cleara API token>`."""
    if (request.content_type or "") not in ("application/json", ""):
        raise IngestRejected(f"unsupported content type {request.content_type!r}: Alertmanager sends application/json", status=415)
    try:
        data = json.loads(request.body or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise IngestRejected(f"invalid JSON: {exc}") from exc
    result, skipped = alertmanager_receive(data=data)
    return Status(202, {"accepted": result.accepted, "duplicates": result.duplicates, "incidents": result.incident_ids,
                        "skipped": skipped})


@router.post("/pagerduty/webhook", response={200: dict, 202: dict, 400: dict, 401: dict})
def pagerduty_webhook(request: HttpRequest):
    """PagerDuty webhooks v3 (incident.acknowledged, .unacknowledged, .resolved, .reopened,
    .annotated), signed with PAGERDUTY_WEBHOOK_SECRET (`X-PagerDuty-Signature`). Stored, then
    applied by a task: the answer is quick, and nothing accepted is lost. An event id received
    before is answered 200 `{"duplicate": true}` and not applied again."""
    try:
        receipt = pagerduty_webhook_receive(body=request.body, signature=request.headers.get("X-PagerDuty-Signature", ""))
    except WebhookSignatureInvalid as exc:
        raise ApiAuthError(f"PagerDuty signature check failed: {exc}") from exc
    except WebhookInvalid as exc:
        raise IngestRejected(f"not a PagerDuty v3 webhook: {exc}") from exc
    if receipt.duplicate:
        return Status(200, {"accepted": False, "duplicate": True, "id": receipt.record.pk})
    return Status(202, {"accepted": True, "duplicate": False, "id": receipt.record.pk})
