"""Project-wide middleware."""
from django.http import HttpRequest, HttpResponse
from django_htmx.http import HttpResponseClientRedirect


class HtmxLoginRedirectMiddleware:
    """Turn a redirect to the login page on an htmx request into HX-Redirect.

    Without this, an expired session swaps the login page into whatever panel asked.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if getattr(request, "htmx", False) and response.status_code == 302:
            from django.conf import settings
            from django.shortcuts import resolve_url

            login_url = resolve_url(settings.LOGIN_URL)
            if response["Location"].startswith(login_url):
                return HttpResponseClientRedirect(response["Location"])
        return response


class AuditMiddleware:
    """Record every change (and every refused attempt by someone known) in the audit log.

    The rules are access.audit's; this only hands it each request after the view answered.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        from access import audit

        response = self.get_response(request)
        if audit.should_record(request, response.status_code):
            audit.record_request(request, response)
        return response


class HostileInputMiddleware:
    """Refuse, before any view, what would break Python or the database instead of a validator.

    - Every request: a query parameter holding NUL or a lone surrogate is a 400 (JSON under /api/).
    - API writes: a body over INGEST_MAX_BYTES is a 413 JSON; a JSON (or JSON Lines) body with
      NUL, lone surrogates, integers beyond 64 bits, non-finite numbers or nesting deeper than
      API_MAX_JSON_DEPTH is a 400 JSON naming the index, field and reason of each (cleara.inputguard).
      A clean body it could parse as the view would is left on `request.parsed_json`.
    """

    JSON_TYPES = ("application/json", "application/x-ndjson", "application/jsonl", "application/json-lines", "application/x-jsonlines", "")

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        from cleara import inputguard

        try:
            self.check(request)
        except inputguard.Refused as refused:
            return self.refusal(request, refused)
        return self.get_response(request)

    def check(self, request: HttpRequest) -> None:
        from django.conf import settings
        from django.core.exceptions import RequestDataTooBig

        from cleara import inputguard

        max_bytes = settings.INGEST_MAX_BYTES
        limits = inputguard.Limits(max_depth=settings.API_MAX_JSON_DEPTH)
        errors = inputguard.query_problems(dict(request.GET.lists()))
        if errors:
            raise inputguard.Refused(400, "invalid query parameter", errors)
        if not request.path.startswith("/api/") or request.method in ("GET", "HEAD", "OPTIONS", "DELETE"):
            return
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            raise inputguard.Refused(400, "invalid Content-Length header") from None
        def too_big(size: int | None = None):
            said = f"body is {size} bytes" if size is not None else "body is too large"
            return inputguard.Refused(413, f"{said}; the limit is {max_bytes} (INGEST_MAX_BYTES): send smaller batches")

        if length > max_bytes:
            raise too_big(length)
        # Read here whatever the type (a chunked body has no Content-Length to refuse it by): a
        # view reading an oversize form or file would get Django's RequestDataTooBig, an HTML 400.
        try:
            body = request.body
        except RequestDataTooBig:
            raise too_big() from None
        if len(body) > max_bytes:
            raise too_big(len(body))
        media_type = (request.content_type or "").split(";")[0].strip().lower()
        if body and media_type in self.JSON_TYPES:
            # Clean and parsed: the view takes it instead of parsing the body again (incidents.api).
            request.parsed_json = inputguard.check_json(body, lines=media_type not in ("application/json", ""), limits=limits)

    @staticmethod
    def refusal(request: HttpRequest, refused) -> HttpResponse:
        from django.http import HttpResponse, JsonResponse

        if request.path.startswith("/api/"):
            return JsonResponse(refused.as_dict(), status=refused.status)
        reasons = "; ".join(f"{e['field']}: {e['reason']}" for e in refused.errors)
        return HttpResponse(f"{refused.detail}: {reasons}" if reasons else refused.detail, status=refused.status, content_type="text/plain; charset=utf-8")
