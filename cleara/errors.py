"""Error pages: under /api/ every error is JSON (a client parsing JSON never gets an HTML page),
elsewhere Django's templates (403.html, 404.html, 500.html)."""
from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views import defaults


def _api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def bad_request(request: HttpRequest, exception=None):
    if _api(request):
        return JsonResponse({"detail": "bad request"}, status=400)
    return defaults.bad_request(request, exception)


def permission_denied(request: HttpRequest, exception=None):
    if _api(request):
        return JsonResponse({"detail": str(exception) or "not allowed"}, status=403)
    return defaults.permission_denied(request, exception)


def page_not_found(request: HttpRequest, exception=None):
    if _api(request):
        return JsonResponse({"detail": f"no API endpoint at {request.path} (see /api/v1/docs)"}, status=404)
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest):
    if _api(request):
        return JsonResponse({"detail": "internal error: the server log says why"}, status=500)
    return defaults.server_error(request)
