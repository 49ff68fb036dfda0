"""Slack's HTTP endpoints. Bolt (behind integrations.slack.client) checks signatures, acknowledges
and runs the OAuth flow; these views only route to it."""
from django.http import HttpRequest, HttpResponse, HttpResponseNotFound
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from access.roles import Action, requires
from integrations.slack import interactions


def _not_configured(what: str) -> HttpResponse:
    return HttpResponseNotFound(f"Slack {what} is not configured on this Cleara.", content_type="text/plain")


@csrf_exempt  # Slack signs its requests; Bolt verifies the signature (401 when it does not match)
@require_POST
def slack_events(request: HttpRequest) -> HttpResponse:
    """Slash commands (/cleara) and interactivity (button clicks)."""
    bolt = interactions.slack_bolt()
    if bolt is None:
        return _not_configured("(SLACK_SIGNING_SECRET)")
    return bolt.handle(request)


@require_GET
@requires(Action.MANAGE_INTEGRATIONS)
def slack_oauth(request: HttpRequest) -> HttpResponse:
    """/slack/install (the "Add to Slack" page, which issues the OAuth state) and
    /slack/oauth_redirect (code for token, installation saved per workspace): Bolt tells them apart by path.

    Admins only, both halves: an install puts a workspace's bot token in Cleara and sends it every
    incident. Slack sends the installer's browser back to the redirect, so the admin who started
    the install is the one logged in when it completes; anyone else gets the login page or 403."""
    bolt = interactions.slack_bolt()
    if bolt is None or not bolt.oauth_enabled:
        return _not_configured("OAuth (SLACK_CLIENT_ID, SLACK_CLIENT_SECRET, SLACK_SIGNING_SECRET)")
    return bolt.handle(request)
