"""The audit log: every change, by whom, through what, on what.

`AuditMiddleware` (cleara/middleware.py) records every request by someone known (a user, a
token, an actor a view named) that changes something: any non-safe method that succeeded or was
refused with 403. What
arrives in bulk from machines (events, Alertmanager batches, scoring) is data, not a change by
someone, and is not recorded here. Code that changes things outside a request (a management
command) calls `record()` itself. Who: the logged-in user, else the API token, else the actor a
view named with `set_actor()` (Slack: the Cleara user a Slack user maps to; PagerDuty webhooks).
Secrets in the input are masked and long values cut, so the log can be shown to admins.
"""
from __future__ import annotations

import json
import logging
import re

from django.db import DatabaseError

from access.models import AuditEntry

log = logging.getLogger(__name__)

NOT_CHANGES = ("/api/v1/events", "/api/v1/integrations/alertmanager", "/api/v1/ml/score", "/login/", "/admin/login/", "/logout/")
SECRET_NAMES = re.compile(r"pass|secret|token|key|credential|authorization|csrf", re.I)
MAX_VALUE = 200
MAX_FIELDS = 30


def set_actor(request, *, user=None, label: str) -> None:
    """Name who acts in this request when it is not the session's user (Slack, webhooks)."""
    request.audit_actor = (user, label)


def _via(path: str) -> str:
    if path.startswith("/admin/"):
        return AuditEntry.Via.ADMIN
    if path.startswith("/slack/"):
        return AuditEntry.Via.SLACK
    if path.startswith("/api/v1/integrations/"):
        return AuditEntry.Via.WEBHOOK
    if path.startswith("/api/"):
        return AuditEntry.Via.API
    return AuditEntry.Via.CONSOLE


def _actor(request) -> tuple[object | None, str]:
    named = getattr(request, "audit_actor", None)
    if named:
        return named
    token = getattr(request, "api_token", None)
    if token is not None:
        return None, f"token:{token.name}"
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return user, user.get_username()
    return None, ""


def mask(name: str, value) -> object:
    if SECRET_NAMES.search(name):
        return "********"
    if isinstance(value, str) and len(value) > MAX_VALUE:
        return value[:MAX_VALUE] + "…"
    return value


def _details(request) -> dict:
    content_type = request.content_type or ""
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        fields = {}
        for name in list(request.POST.keys())[:MAX_FIELDS]:
            values = request.POST.getlist(name)
            fields[name] = mask(name, values[0] if len(values) == 1 else ", ".join(values))
        return {"form": fields}
    try:
        body = request.body
    except Exception:  # read as a stream by the view: nothing more to show
        return {}
    if not body:
        return {}
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return {"bytes": len(body)}
    if isinstance(data, dict):
        return {"json": {str(k)[:MAX_VALUE]: mask(str(k), v if isinstance(v, str | int | float | bool) or v is None else f"<{type(v).__name__}>") for k, v in list(data.items())[:MAX_FIELDS]}, "bytes": len(body)}
    return {"json": f"<{type(data).__name__} of {len(data) if isinstance(data, list) else 1}>", "bytes": len(body)}


def _target(match) -> str:
    if match is None:
        return ""
    kwargs = match.kwargs or {}
    if "number" in kwargs:
        return f"incident {kwargs['number']}"
    return " ".join(f"{k}={v}" for k, v in kwargs.items())[:200]


def should_record(request, status_code: int) -> bool:
    if request.method in ("GET", "HEAD", "OPTIONS", "TRACE") or request.path.startswith(NOT_CHANGES):
        return False
    # Nobody known (an anonymous request sent to the login page, a forged CSRF post) changed nothing.
    return bool(_actor(request)[1]) and (status_code < 400 or status_code == 403)


def record_request(request, response) -> AuditEntry | None:
    user, label = _actor(request)
    match = getattr(request, "resolver_match", None)
    return record(
        actor=user,
        actor_label=label or "anonymous",
        via=_via(request.path),
        action=(match.view_name if match else "") or request.path[:120],
        method=request.method,
        path=request.get_full_path()[:500],
        target=_target(match),
        status_code=response.status_code,
        allowed=response.status_code != 403,
        details=_details(request),
    )


def record(*, actor=None, actor_label: str, via: str, action: str, target: str = "", details: dict | None = None, **fields) -> AuditEntry | None:
    """Write one entry. A failure to write is logged, never raised: the change already happened."""
    try:
        return AuditEntry.objects.create(
            actor=actor if getattr(actor, "pk", None) else None, actor_label=actor_label[:200], via=via,
            action=action[:120], target=target[:200], details=details or {}, **fields,
        )
    except DatabaseError:
        log.exception("audit entry not written: %s %s %s", actor_label, action, target)
        return None
