"""Error pages: under /api/ every error is JSON (a client parsing JSON never gets an HTML page),
elsewhere Django's templates (403.html, 404.html, 500.html). An unreachable database is not a
500: it is a 503 with Retry-After (503.html), on every path. A refusal of an htmx request is one
plain sentence, which the console shows in its alert box (static/cleara/js/cleara.js)."""
from __future__ import annotations

import sys

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template import loader
from django.views import defaults

from cleara import dbpool


def _api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def bad_request(request: HttpRequest, exception=None):
    if _api(request):
        return JsonResponse({"detail": "bad request"}, status=400)
    return defaults.bad_request(request, exception)


def permission_denied(request: HttpRequest, exception=None):
    if _api(request):
        return JsonResponse({"detail": str(exception) or "not allowed"}, status=403)
    if request.headers.get("HX-Request") == "true":
        return HttpResponse(f"Not allowed: {exception or 'your account cannot do this'}.", status=403, content_type="text/plain; charset=utf-8")
    return defaults.permission_denied(request, exception)


def page_not_found(request: HttpRequest, exception=None):
    if _api(request):
        return JsonResponse({"detail": f"no API endpoint at {request.path} (see /api/v1/docs)"}, status=404)
    return defaults.page_not_found(request, exception)


def _pool_exhausted(exc: BaseException | None) -> bool:
    """The request waited DATABASE_POOL_TIMEOUT for a connection while this process's pool had
    every one of its DATABASE_POOL_MAX_SIZE connections in use (busy, not down)."""
    if exc is None or type(exc.__cause__).__name__ not in ("PoolTimeout", "TooManyRequests"):
        return False
    stats = dbpool.pool_stats()
    return bool(stats) and stats.get("pool_size", 0) >= stats["max_size"]


def database_unavailable(request: HttpRequest, exc: BaseException | None = None):
    """503 with Retry-After: the database is down or unreachable, or every connection of this
    process's pool stayed busy (DATABASE_POOL_TIMEOUT), so nothing was done (a batch was not
    stored; the client should send it again). Touches nothing that needs the database (no
    session, no user, no context processors) and names no host or port."""
    body, retry_after = unavailable_answer(exc)
    if _api(request):
        response = JsonResponse(body, status=503)
    else:
        response = HttpResponse(loader.get_template("503.html").render({"retry_after": retry_after}), status=503)
    response["Retry-After"] = str(retry_after)
    return response


def unavailable_answer(exc: BaseException | None, *, busy: bool | None = None) -> tuple[dict, int]:
    """The API's 503 body for a database that is unreachable or busy, and its Retry-After (s).
    `busy`: known busy (the light ingest path's wait for a group commit ran out), else from `exc`."""
    busy = _pool_exhausted(exc) if busy is None else busy
    retry_after = settings.DATABASE_POOL_BUSY_RETRY_AFTER if busy else settings.DATABASE_UNAVAILABLE_RETRY_AFTER
    what = "database busy (every pooled connection in use)" if busy else "database unavailable"
    return {"detail": f"{what}: nothing was stored; retry in {retry_after} s", "retry_after": retry_after}, retry_after


INTERNAL_ERROR = {"detail": "internal error: the server log says why"}


def server_error(request: HttpRequest):
    # Called inside Django's `except` for the request's exception (views, ninja, middleware alike).
    exc = sys.exc_info()[1]
    if isinstance(exc, (OperationalError, InterfaceError)):
        return database_unavailable(request, exc)
    if _api(request):
        return JsonResponse(INTERNAL_ERROR, status=500)
    return defaults.server_error(request)
