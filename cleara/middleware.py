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

    The checks are `request_precheck` and `body_check`, which the light ingest path
    (incidents.fastingest) calls too, so both paths refuse the same input the same way.
    """

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

        if not request_precheck(path=request.path, method=request.method, query=dict(request.GET.lists()),
                                content_length=request.META.get("CONTENT_LENGTH")):
            return
        # Read here whatever the type (a chunked body has no Content-Length to refuse it by): a
        # view reading an oversize form or file would get Django's RequestDataTooBig, an HTML 400.
        try:
            body = request.body
        except RequestDataTooBig:
            raise too_big(settings.INGEST_MAX_BYTES) from None
        # Clean and parsed: the view takes it instead of parsing the body again (incidents.api).
        request.parsed_json = body_check(body, request.content_type or "")

    @staticmethod
    def refusal(request: HttpRequest, refused) -> HttpResponse:
        from django.http import HttpResponse, JsonResponse

        if request.path.startswith("/api/"):
            return JsonResponse(refused.as_dict(), status=refused.status)
        reasons = "; ".join(f"{e['field']}: {e['reason']}" for e in refused.errors)
        return HttpResponse(f"{refused.detail}: {reasons}" if reasons else refused.detail, status=refused.status, content_type="text/plain; charset=utf-8")


GUARDED_JSON_TYPES = ("application/json", "application/x-ndjson", "application/jsonl", "application/json-lines", "application/x-jsonlines", "")


def too_big(max_bytes: int, size: int | None = None):
    from cleara import inputguard

    said = f"body is {size} bytes" if size is not None else "body is too large"
    return inputguard.Refused(413, f"{said}; the limit is {max_bytes} (INGEST_MAX_BYTES): send smaller batches")


def request_precheck(*, path: str, method: str, query: dict[str, list[str]], content_length: str | None) -> bool:
    """What is refused before the body is read: a hostile query parameter (every request), then,
    for an API write, a Content-Length that is not a number (400) or over INGEST_MAX_BYTES (413).
    Raises inputguard.Refused; True when the request is an API write whose body `body_check` must see."""
    from django.conf import settings

    from cleara import inputguard

    errors = inputguard.query_problems(query)
    if errors:
        raise inputguard.Refused(400, "invalid query parameter", errors)
    if not path.startswith("/api/") or method in ("GET", "HEAD", "OPTIONS", "DELETE"):
        return False
    try:
        length = int(content_length or 0)
    except ValueError:
        raise inputguard.Refused(400, "invalid Content-Length header") from None
    if length > settings.INGEST_MAX_BYTES:
        raise too_big(settings.INGEST_MAX_BYTES, length)
    return True


def body_check(body: bytes, content_type: str):
    """An API write's body: over INGEST_MAX_BYTES is a 413, hostile JSON a 400 naming each problem
    (inputguard.Refused); a clean JSON body comes back parsed (inputguard.Parsed) when the view
    may use that parse as its own, else None."""
    from django.conf import settings

    from cleara import inputguard

    if len(body) > settings.INGEST_MAX_BYTES:
        raise too_big(settings.INGEST_MAX_BYTES, len(body))
    media_type = (content_type or "").split(";")[0].strip().lower()
    if body and media_type in GUARDED_JSON_TYPES:
        limits = inputguard.Limits(max_depth=settings.API_MAX_JSON_DEPTH)
        return inputguard.check_json(body, lines=media_type not in ("application/json", ""), limits=limits)
    return None
