"""Structured logs with request ids, and Sentry.

- Every log line is one JSON object (LOG_FORMAT=json, the default; `plain` for a terminal):
  `ts`, `level`, `logger`, `message`, `request_id` (when the line was written while serving a
  request), `exc` (the traceback), and any `extra={...}` fields given to the call.
- The request id is the `X-Request-ID` the proxy sent (nginx sets it to its own `$request_id`, so
  one id ties the access log to the application's lines), or a new one; it is echoed in the
  response's `X-Request-ID` and given to Sentry as the `request_id` tag.
- One `cleara.request` line per request: method, path, view, status, duration.
- Sentry: `sentry_init` runs when SENTRY_DSN is set (settings), without personal data.
"""
from __future__ import annotations

import contextvars
import json
import logging
import re
import time
import traceback
import uuid
from datetime import UTC, datetime

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("cleara_request_id", default=None)
_VALID_ID = re.compile(r"^[A-Za-z0-9._:-]{8,128}$")
# Attributes every LogRecord has: anything else was passed with extra={...} and is kept.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "request_id"}

request_log = logging.getLogger("cleara.request")


class RequestIdFilter(logging.Filter):
    """Puts the current request id on every record (None outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id_var.get()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if getattr(record, "request_id", None):
            out["request_id"] = record.request_id
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exc"] = "".join(traceback.format_exception(*record.exc_info)).rstrip()
        return json.dumps(out, default=str, ensure_ascii=False)


class RequestIdMiddleware:
    """Binds the request id for the request's duration and writes the `cleara.request` line."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        sent = request.headers.get("X-Request-ID", "")
        request_id = sent if _VALID_ID.match(sent) else uuid.uuid4().hex
        request.request_id = request_id
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            response["X-Request-ID"] = request_id
            match = getattr(request, "resolver_match", None)
            request_log.info(
                "%s %s %s", request.method, request.path, response.status_code,
                extra={"method": request.method, "path": request.path, "status": response.status_code,
                       "view": match.view_name if match else None,
                       "duration_ms": round((time.perf_counter() - started) * 1000, 1)},
            )
            return response
        finally:
            request_id_var.reset(token)


def logging_config(*, fmt: str, level: str) -> dict:
    """The LOGGING setting: one console handler, JSON or plain, request ids on every record."""
    formatter = {"()": JsonFormatter} if fmt == "json" else {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": RequestIdFilter}},
        "formatters": {"main": formatter},
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "main", "filters": ["request_id"]}},
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            "django.db.backends": {"level": "WARNING"},
            # runserver's access lines would repeat cleara.request's (without the request id).
            "django.server": {"level": "WARNING"},
        },
    }


def _tag_request_id(event: dict, hint: dict) -> dict:
    request_id = request_id_var.get()
    if request_id:
        event.setdefault("tags", {})["request_id"] = request_id
    return event


def sentry_init(*, dsn: str, environment: str, release: str, traces_sample_rate: float) -> None:
    """Report unhandled errors (and ERROR log lines) to Sentry; no cookies, user data or bodies."""
    import sentry_sdk
    from sentry_sdk.integrations.django import DjangoIntegration

    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        release=release or None,
        traces_sample_rate=traces_sample_rate,
        # SQL breadcrumbs without their parameters: those hold session keys and user data.
        data_collection={"user_info": False, "http_bodies": [], "database_query_data": False},
        integrations=[DjangoIntegration()],
        before_send=_tag_request_id,
    )
