"""Webhooks in from other systems, under /api/v1/integrations/."""
import json

from django.http import HttpRequest
from ninja import Router, Status

from access.roles import Action
from cleara.auth import ApiAuthError, allowed
from incidents.errors import IngestRejected
from integrations.alertmanager.services import alertmanager_receive
from integrations.pagerduty.services import WebhookSignatureInvalid, pagerduty_webhook_receive
from integrations.pagerduty.webhooks import WebhookInvalid

router = Router(tags=["integrations"])


@router.post("/alertmanager", auth=allowed(Action.INGEST), response={202: dict, 400: dict, 401: dict, 415: dict})
def alertmanager_webhook(request: HttpRequest):
    """Prometheus Alertmanager webhook (payload version 4). Configure `http_config.authorization`
    with `credentials: <Cleara API token>`."""
    if (request.content_type or "") not in ("application/json", ""):
        raise IngestRejected(f"unsupported content type {request.content_type!r}: Alertmanager sends application/json", status=415)
    try:
        data = json.loads(request.body or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise IngestRejected(f"invalid JSON: {exc}") from exc
    result = alertmanager_receive(data=data)
    return Status(202, {"accepted": result.accepted, "duplicates": result.duplicates, "incidents": result.incident_ids})


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
