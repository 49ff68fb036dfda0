"""POST /api/v1/events before Django: the same answers, a fraction of the cost, commits shared.

Why (measured, docs/sizing.md): one event per request from 8 keep-alive clients got 107
events/s from two daphne processes, while the same clients got 327 `GET /healthz`/s: Django's
middleware stack (18 middleware, most of them sync, each adapted per request) and ninja's
dispatch cost more than the work, and a process runs its sync views one at a time, so every
request paid its own commit. A raw ASGI answer under the same daphne takes 3,100-3,800
requests/s. An async Django view would still go through the middleware stack; so the route sits
in cleara/asgi.py, in front of Django, and serves only what it serves identically:

* POST to exactly /api/v1/events, with the queue on (INGEST_ASYNC: the request stores and
  answers, the workers process) and INGEST_FAST_PATH; a Host that ALLOWED_HOSTS accepts; no
  redirect to HTTPS due. Anything else (another method, a bad Host, the inline configuration)
  goes to Django as before.
* The checks are the Django path's own functions, in its order: the hostile-input guard
  (cleara.middleware.request_precheck / body_check: 400 naming index, field and reason, 413), the
  bearer token and its scope (cleara.auth, access.roles: 401 / 403, same sentences), parsing and
  validation (incidents.ingest.events_accept: 415, 400, 413, 422), the database unreachable or
  its pool busy (cleara.errors.unavailable_answer: 503 with Retry-After), anything else 500.
  The same headers (X-Request-ID, the security headers and CSP), the same `cleara.request` log
  line and request-latency metric under the view name `api:events_post`, the same ingest
  counters (incidents.pipeline).
* The store is a group commit (incidents.groupcommit): the request waits for the transaction
  that holds its batch, and answers 202 only after that commit.

CPU work runs on the event loop for small bodies (one event: tens of microseconds, less than a
hop to a thread) and in a thread above SMALL_BODY bytes; anything that may query the database
(a token this process has not cached, the new-services cap) runs in a thread, which gives its
connection back to the pool when done.
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from functools import cache

from django.conf import settings
from django.core.exceptions import SynchronousOnlyOperation
from django.db import InterfaceError, OperationalError, connection
from django.http import QueryDict
from django.http.request import split_domain_port, validate_host
from django.utils.http import parse_header_parameters

from access.roles import AccessDenied, Action, check
from cleara import errors, inputguard, metrics, tokencache
from cleara.auth import ApiAuthError, bearer, token_lookup
from cleara.logs import _VALID_ID, request_id_var, request_log
from cleara.middleware import body_check, request_precheck, too_big
from incidents.errors import IngestRejected, IngestValidationError
from incidents.groupcommit import COMMITTER
from incidents.ingest import events_accept

log = logging.getLogger(__name__)
django_request_log = logging.getLogger("django.request")

PATH = "/api/v1/events"
VIEW = "api:events_post"  # the Django route's name: one series in the latency metric, one name in the log
SMALL_BODY = 64 * 1024  # bytes checked and parsed on the event loop; a larger body in a thread
NINJA_JSON = b"application/json; charset=utf-8"  # what ninja answers with (the view's answers and its auth's)
PLAIN_JSON = b"application/json"  # what JsonResponse answers with (the guard's refusals, 500/503)
REASONS = {202: "Accepted", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 413: "Request Entity Too Large",
           415: "Unsupported Media Type", 422: "Unprocessable Entity", 500: "Internal Server Error", 503: "Service Unavailable"}


def accepts(scope: dict) -> bool:
    """Whether this path serves the request (else Django does)."""
    if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != PATH or scope.get("root_path"):
        return False
    if not (settings.INGEST_ASYNC and settings.INGEST_FAST_PATH):
        return False
    headers = _headers(scope)
    host = headers.get("x-forwarded-host") if settings.USE_X_FORWARDED_HOST else None
    domain, _ = split_domain_port(host or headers.get("host", ""))
    if not domain or not validate_host(domain, settings.ALLOWED_HOSTS):
        return False  # Django answers 400 (and logs DisallowedHost)
    return not (settings.SECURE_SSL_REDIRECT and not _secure(scope, headers))  # Django redirects


async def handle(scope: dict, receive, send) -> None:
    started = time.perf_counter()
    arrived_at = time.time()
    headers = _headers(scope)
    sent_id = headers.get("x-request-id", "")
    request_id = sent_id if _VALID_ID.match(sent_id) else uuid.uuid4().hex
    bound = request_id_var.set(request_id)
    try:
        try:
            status, body, content_type, full, extra = await _answer(scope, receive, headers, arrived_at)
        except _Disconnected:
            return
        except (OperationalError, InterfaceError) as exc:  # the token's read, the new-services count, the store
            unavailable, retry_after = errors.unavailable_answer(exc)
            status, body, content_type, full, extra = 503, unavailable, PLAIN_JSON, True, [(b"retry-after", str(retry_after).encode())]
        except Exception:
            log.exception("POST %s failed", PATH)
            status, body, content_type, full, extra = 500, errors.INTERNAL_ERROR, PLAIN_JSON, True, []
        payload = json.dumps(body).encode()
        response_headers = [(b"content-type", content_type), (b"content-length", str(len(payload)).encode()),
                            *_security_headers(_secure(scope, headers), full), *extra, (b"x-request-id", request_id.encode())]
        await send({"type": "http.response.start", "status": status, "headers": response_headers})
        await send({"type": "http.response.body", "body": payload})
        duration = time.perf_counter() - started
        if status >= 400:  # as Django's log_response does for 4xx and 5xx
            (django_request_log.error if status >= 500 else django_request_log.warning)(
                "%s: %s", REASONS.get(status, status), PATH, extra={"status_code": status})
        request_log.info("%s %s %s", "POST", PATH, status,
                         extra={"method": "POST", "path": PATH, "status": status, "view": VIEW, "duration_ms": round(duration * 1000, 1)})
        metrics.REQUEST_SECONDS.labels(view=VIEW, method="POST", status=f"{status // 100}xx").observe(duration)
    finally:
        request_id_var.reset(bound)


class _Disconnected(Exception):
    pass


async def _answer(scope: dict, receive, headers: dict[str, str], arrived_at: float):
    """(status, body, content type, whether Django's whole stack would have answered, extra headers)."""
    content_type_header = headers.get("content-type", "")
    content_type = parse_header_parameters(content_type_header)[0]
    # 1. The hostile-input guard (a middleware on the Django path: before authentication).
    try:
        request_precheck(path=PATH, method="POST", query=dict(QueryDict(scope.get("query_string", b"")).lists()),
                         content_length=headers.get("content-length"))
        body, size = await _body(receive)
        if size > settings.INGEST_MAX_BYTES:  # a chunked body, without a Content-Length to refuse it by
            raise too_big(settings.INGEST_MAX_BYTES, size)
        if len(body) > SMALL_BODY:
            parsed = await asyncio.to_thread(body_check, body, content_type)
        else:
            parsed = body_check(body, content_type)
    except inputguard.Refused as refused:
        return refused.status, refused.as_dict(), PLAIN_JSON, False, []
    # 2. The token and its scope (ninja's auth, before the view).
    try:
        raw = bearer(headers.get("authorization", ""), required=True)
        token = token_lookup(raw, cached_only=True) or await _in_thread(token_lookup, raw)
        check(Action.INGEST, token=token)
    except ApiAuthError as exc:
        return 401, {"detail": exc.message}, NINJA_JSON, True, []
    except AccessDenied as exc:
        return 403, {"detail": exc.message}, NINJA_JSON, True, []
    if tokencache.last_used_due(token, arrived_at):
        COMMITTER.touch(token, arrived_at)
    # 3. The view: parse, validate, store (group commit), answer.
    try:
        accept_type = content_type or content_type_header
        if len(body) > SMALL_BODY:
            events = await _in_thread(events_accept, body=body, content_type=accept_type, parsed=parsed)
        else:
            try:
                events = events_accept(body=body, content_type=accept_type, parsed=parsed)
            except SynchronousOnlyOperation:  # more new services than the cap: it counts them in the database
                events = await _in_thread(events_accept, body=body, content_type=accept_type, parsed=parsed)
    except IngestValidationError as exc:
        return 400, {"detail": exc.message, "errors": exc.errors}, NINJA_JSON, True, []
    except IngestRejected as exc:
        return exc.status, {"detail": exc.message}, NINJA_JSON, True, []
    future = COMMITTER.submit(events, arrived_at=arrived_at)
    waiting = asyncio.wrap_future(future)
    done, _ = await asyncio.wait({waiting}, timeout=getattr(settings, "DATABASE_POOL_TIMEOUT", 5.0))
    if not done and future.cancel():  # never taken into a group: nothing of it is stored
        body, retry_after = errors.unavailable_answer(None, busy=True)
        return 503, body, PLAIN_JSON, True, [(b"retry-after", str(retry_after).encode())]
    result = await waiting
    return 202, result.answer(), NINJA_JSON, True, []


async def _body(receive) -> tuple[bytes, int]:
    """The body and its size; beyond INGEST_MAX_BYTES only counted (it is refused by its size)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected
        chunk = message.get("body", b"")
        size += len(chunk)
        if size <= settings.INGEST_MAX_BYTES + 1:
            chunks.append(chunk)
        if not message.get("more_body"):
            break
    return b"".join(chunks), size


async def _in_thread(fn, *args, **kwargs):
    """Run Django code that may query the database in a thread, returning its connection to the pool."""
    def run():
        try:
            return fn(*args, **kwargs)
        finally:
            connection.close()

    return await asyncio.to_thread(run)


def _headers(scope: dict) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in scope.get("headers", ()):
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        out[key] = f"{out[key]},{text}" if key in out else text  # as Django's META joins a repeated header
    return out


def _secure(scope: dict, headers: dict[str, str]) -> bool:
    if scope.get("scheme") == "https":
        return True
    proxy = settings.SECURE_PROXY_SSL_HEADER
    if proxy:
        name, value = proxy
        sent = headers.get(name.removeprefix("HTTP_").replace("_", "-").lower(), "")
        return sent.split(",", 1)[0].strip() == value
    return False


@cache
def _security_headers(secure: bool, full: bool) -> tuple[tuple[bytes, bytes], ...]:
    """What SecurityMiddleware, CSPMiddleware and (for answers that went through the whole stack,
    not the guard's refusals) XFrameOptionsMiddleware add to a JSON answer."""
    from csp.utils import build_policy

    out: list[tuple[str, str]] = []
    if settings.X_FRAME_OPTIONS and full:
        out.append(("x-frame-options", settings.X_FRAME_OPTIONS))
    policy = build_policy()
    if policy:
        out.append(("content-security-policy", policy))
    if getattr(settings, "CONTENT_SECURITY_POLICY_REPORT_ONLY", None):
        out.append(("content-security-policy-report-only", build_policy(report_only=True)))
    if secure and settings.SECURE_HSTS_SECONDS:
        hsts = f"max-age={settings.SECURE_HSTS_SECONDS}"
        hsts += "; includeSubDomains" if settings.SECURE_HSTS_INCLUDE_SUBDOMAINS else ""
        hsts += "; preload" if settings.SECURE_HSTS_PRELOAD else ""
        out.append(("strict-transport-security", hsts))
    if settings.SECURE_CONTENT_TYPE_NOSNIFF:
        out.append(("x-content-type-options", "nosniff"))
    if settings.SECURE_REFERRER_POLICY:
        policy = settings.SECURE_REFERRER_POLICY
        out.append(("referrer-policy", policy if isinstance(policy, str) else ",".join(policy)))
    if settings.SECURE_CROSS_ORIGIN_OPENER_POLICY:
        out.append(("cross-origin-opener-policy", settings.SECURE_CROSS_ORIGIN_OPENER_POLICY))
    return tuple((k.encode(), v.encode("latin-1")) for k, v in out)
