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
