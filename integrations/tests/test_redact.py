"""Upstream error bodies on /integrations/ are cut short and their secrets masked (issue 12)."""
from __future__ import annotations

import pytest

from integrations.models import OutboxMessage
from integrations.redact import MASK, redact
from integrations.tests.conftest import BOT_TOKEN, PD_TOKEN, ROUTING_KEY


@pytest.mark.parametrize("text, secret", [
    ("Slack said invalid_auth: token xoxb-1234567890-0987654321-AbCdEfGhIjKlMnOp rejected", "xoxb-1234567890-0987654321-AbCdEfGhIjKlMnOp"),
    ("app token xapp-1-A0123-456-abcdef0123 refused", "xapp-1-A0123-456-abcdef0123"),
    ("proxy error: request had Authorization: Bearer eyJhbGciOi.payload.sig and failed", "eyJhbGciOi.payload.sig"),
    ("{'Authorization': 'Token token=y_NbAkKc66ryYTWUXYEu'}", "y_NbAkKc66ryYTWUXYEu"),
    ('{"routing_key": "R0UT1NGKEYR0UT1NGKEYR0UT1NGKEY99", "event_action": "trigger"}', "R0UT1NGKEYR0UT1NGKEYR0UT1NGKEY99"),
    ("GET /callback?code=1&client_secret=s3cr3t-v4lue&x=1 400", "s3cr3t-v4lue"),
    ("password: hunter2hunter2", "hunter2hunter2"),
    ("URLError(https://ops:pa55w0rd@proxy.example.com:8443/events)", "pa55w0rd"),
    ("X-Api-Key=abcdef123456 denied", "abcdef123456"),
])
def test_secrets_in_upstream_text_are_masked(text, secret):
    shown = redact(text)
    assert secret not in shown and MASK in shown, shown


def test_known_secrets_are_masked_wherever_they_appear_and_plain_text_is_kept():
    assert redact("odd echo of 0123456789abcdef in a body", secrets=["0123456789abcdef"]) == f"odd echo of {MASK} in a body"
    plain = "PagerDuty answered 400: Event object is invalid: 'routing_key' is invalid: it must be 32 characters"
    assert redact(plain) == plain


def test_long_bodies_are_cut_after_masking():
    shown = redact("x" * 490 + " token=abcdefghijklmnop " + "y" * 1000)
    assert len(shown) == 500 and shown.endswith("…") and "abcdefgh" not in shown


@pytest.mark.django_db
def test_the_integrations_page_shows_upstream_errors_masked_and_short(settings, slack, pagerduty, logged_in_client, open_incident):
    # PagerDuty (the local receiver, over TLS) refuses the trigger with a body that echoes what it got.
    echo = {
        "status": "invalid event",
        "message": "Event object is invalid",
        "errors": [f"routing_key {ROUTING_KEY} is disabled", f"request had Authorization: Token token={PD_TOKEN}",
                   "seen at https://admin:pdpassword99@relay.example.com/x", "z" * 2000],
    }
    pagerduty.fail_next(1, status=400, body=echo, path_contains="enqueue")
    slack.fail_next(1, status=400, body={"ok": False, "error": "invalid_arguments", "response_metadata": {"messages": [f"[ERROR] token {BOT_TOKEN} cannot post"]}}, path_contains="chat.postMessage")
    open_incident()
    failed = OutboxMessage.objects.exclude(last_error="")
    assert {m.kind for m in failed} >= {"pagerduty.event", "slack.post"}, [(m.kind, m.last_error) for m in OutboxMessage.objects.all()]
    html = logged_in_client.get("/integrations/").content.decode()
    for secret in (ROUTING_KEY, PD_TOKEN, BOT_TOKEN, "pdpassword99"):
        assert secret not in html, secret
        assert not OutboxMessage.objects.filter(last_error__contains=secret).exists()
    assert "Event object is invalid" in html and "z" * 600 not in html
    assert all(len(m.last_error) <= 500 for m in failed)


@pytest.mark.django_db
def test_reasons_stored_before_masking_are_masked_on_the_page(logged_in_client, open_incident):
    incident = open_incident()
    OutboxMessage.objects.create(provider="slack", kind="slack.post", incident=incident, status=OutboxMessage.Status.FAILED,
                                 last_error="Slack said invalid_auth for xoxb-111111111-222222222-SeCrEtSeCrEt")
    html = logged_in_client.get("/integrations/").content.decode()
    assert "SeCrEtSeCrEt" not in html and "Slack said invalid_auth for" in html
