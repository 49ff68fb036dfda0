"""The integrations page: states, last deliveries, failures with their reasons, the test button."""
from __future__ import annotations

import pytest
from django.test import Client

from integrations.models import OutboxMessage

pytestmark = pytest.mark.django_db


def test_login_is_required(db):
    response = Client().get("/integrations/")
    assert response.status_code == 302 and "/login/" in response["Location"]
    assert Client().post("/integrations/test").status_code == 302


def test_nothing_configured(logged_in_client):
    html = logged_in_client.get("/integrations/").content.decode()
    assert html.count("not configured") == 2
    assert "SLACK_BOT_TOKEN (or SLACK_CLIENT_ID and SLACK_CLIENT_SECRET)" in html and "PAGERDUTY_ROUTING_KEY" in html
    assert "Nothing sent yet." in html and "No failures." in html


def test_states_deliveries_and_refusals_with_their_reason(settings, slack, pagerduty, logged_in_client, open_incident):
    settings.PAGERDUTY_ROUTING_KEY = "too-short"
    incident = open_incident()
    response = logged_in_client.get("/integrations/")
    html = response.content.decode()
    assert response.status_code == 200
    assert html.count(">configured<") == 2
    assert "posts to C0ALERTS01" in html and "pages from severity critical" in html
    refused = OutboxMessage.objects.get(kind="pagerduty.event")
    assert f'id="outbox-{refused.pk}-failure"' in html
    assert "failed, not retried" in html and "&#x27;routing_key&#x27; is invalid: it must be 32 characters" in html
    delivered = OutboxMessage.objects.get(kind="slack.post")
    assert f'id="outbox-{delivered.pk}-row"' in html and f'href="/incidents/{incident.number}/"' in html


def test_a_retry_in_waiting_is_shown_as_such(slack, logged_in_client, open_incident):
    slack.fail_next(1, status=503)
    open_incident()
    html = logged_in_client.get("/integrations/").content.decode()
    assert "retrying at" in html and "Slack said HTTP 503" in html


def test_the_test_button_sends_to_each_integration(slack, pagerduty, admin_client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post("/integrations/test", HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200 and html.lstrip().startswith('<section id="deliveries"')
    assert "Test notification queued: 1 to slack, 1 to pagerduty." in html
    [post] = slack.posts()
    assert post["channel"] == "C0ALERTS01" and post["text"].startswith(":wave: Test notification from Cleara")
    [change] = pagerduty.change_events
    assert change["payload"]["summary"] == "Test notification from Cleara: PagerDuty is connected"
    assert set(OutboxMessage.objects.values_list("status", flat=True)) == {"delivered"}


def test_the_test_button_without_javascript(admin_client):
    response = admin_client.post("/integrations/test", follow=True)
    assert response.redirect_chain[-1][0] == "/integrations/"
    assert "No integration is configured: nothing to send." in response.content.decode()


def test_only_an_admin_sees_or_uses_the_test_button(slack, logged_in_client, admin_client, django_capture_on_commit_callbacks):
    assert "Send test notification" in admin_client.get("/integrations/").content.decode()
    assert "Send test notification" not in logged_in_client.get("/integrations/").content.decode()  # a viewer
    with django_capture_on_commit_callbacks(execute=True):
        refused = logged_in_client.post("/integrations/test", HTTP_HX_REQUEST="true")
    assert refused.status_code == 403 and "needs the admin role" in refused.content.decode()
    assert not slack.posts() and not OutboxMessage.objects.exists()
