"""Webhooks in from other systems, under /api/v1/integrations/."""
import json

from django.http import HttpRequest
from ninja import Router, Status

from cleara.auth import TokenAuth
from incidents.errors import IngestRejected
from integrations.alertmanager.services import alertmanager_receive

router = Router(tags=["integrations"])


@router.post("/alertmanager", auth=TokenAuth(), response={202: dict, 400: dict, 401: dict, 415: dict})
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
