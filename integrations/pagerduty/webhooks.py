"""PagerDuty webhooks v3 in: the signature check and the payload, as plain data.

PagerDuty signs the raw body with HMAC-SHA256 and sends `X-PagerDuty-Signature: v1=<hex>`; while
a secret is being rotated it signs with each active secret and sends them comma-separated. A body
is genuine when any of its v1 signatures matches any of our secrets.
"""
from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass


class WebhookInvalid(ValueError):
    """The body is not a PagerDuty v3 webhook event we can read (answered 400 with this reason)."""


def signature_valid(*, body: bytes, header: str, secrets: list[str]) -> bool:
    offered = [part.strip()[3:] for part in (header or "").split(",") if part.strip().startswith("v1=")]
    if not offered or not secrets:
        return False
    for secret in secrets:
        expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        if any(hmac.compare_digest(expected, candidate) for candidate in offered):
            return True
    return False


def signature_for(*, body: bytes, secret: str) -> str:
    """The header value PagerDuty would send (for our tests and test receivers)."""
    return "v1=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class WebhookEvent:
    id: str
    event_type: str
    incident_id: str
    incident_key: str | None
    agent: str
    # incident.annotated: the note
    note_id: str | None = None
    note_content: str | None = None


def event_parse(body: bytes) -> WebhookEvent:
    """Decode and read a webhook body (WebhookInvalid names what is wrong)."""
    try:
        data = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise WebhookInvalid(f"invalid JSON: {exc}") from exc
    return event_from_data(data)


def event_from_data(data) -> WebhookEvent:
    event = data.get("event") if isinstance(data, dict) else None
    if not isinstance(event, dict):
        raise WebhookInvalid("expected an object with an `event` (PagerDuty webhooks v3)")
    event_type = event.get("event_type")
    if not isinstance(event_type, str) or not event_type:
        raise WebhookInvalid("event.event_type is required")
    payload = event.get("data")
    if not isinstance(payload, dict):
        raise WebhookInvalid("event.data is required, an object")
    agent = (event.get("agent") or {}).get("summary") or ""
    if event_type == "incident.annotated":
        incident = payload.get("incident") or {}
        if not incident.get("id"):
            raise WebhookInvalid("event.data.incident.id is required for incident.annotated")
        return WebhookEvent(
            id=str(event.get("id") or ""), event_type=event_type, incident_id=incident["id"], incident_key=None,
            agent=agent, note_id=str(payload.get("id") or ""), note_content=str(payload.get("content") or ""),
        )
    if event.get("resource_type") == "incident" or event_type.startswith("incident."):
        if not payload.get("id"):
            raise WebhookInvalid("event.data.id is required for incident events")
        return WebhookEvent(
            id=str(event.get("id") or ""), event_type=event_type, incident_id=payload["id"],
            incident_key=payload.get("incident_key"), agent=agent,
        )
    return WebhookEvent(id=str(event.get("id") or ""), event_type=event_type, incident_id="", incident_key=None, agent=agent)
