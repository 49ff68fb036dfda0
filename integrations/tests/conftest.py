"""Fixtures of the Slack and PagerDuty tests: local receivers, the settings that point Cleara at
them, signed Slack requests, and incidents opened the way the correlation engine opens them."""
from __future__ import annotations

import hashlib
import hmac
import json
import ssl
import time
import urllib.parse

import pytest
import trustme
from django.db import transaction

from incidents.analysis import Hypothesis
from incidents.factories import incident_analysis, incident_opened
from incidents.models import Incident
from incidents.services import incident_analysis_update
from integrations.tests.receivers import PagerDutyReceiver, SlackReceiver

SIGNING_SECRET = "cleara-test-signing-secret"
BOT_TOKEN = "xoxb-cleara-test"
CHANNEL = "C0ALERTS01"
TEAM = "T0FAKE0001"
ROUTING_KEY = "R0UT1NGKEYR0UT1NGKEYR0UT1NGKEY12"
PD_TOKEN = "pd-api-token"
PD_FROM = "cleara@example.com"
PD_SECRETS = ["whsec-old-0123456789", "whsec-new-abcdefghij"]


@pytest.fixture(scope="session")
def tls_ca(tmp_path_factory):
    ca = trustme.CA()
    bundle = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    return ca, str(bundle)


@pytest.fixture
def slack_receiver():
    receiver = SlackReceiver(tokens={BOT_TOKEN}, channels={CHANNEL: "alerts"}, users={"U0ONCALL01": "oncall@example.com"}, team_id=TEAM).start()
    yield receiver
    receiver.stop()


@pytest.fixture
def pagerduty_receiver(tls_ca, monkeypatch):
    ca, bundle = tls_ca
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    # How Cleara is told to trust a private CA: SSL_CERT_FILE, which the `pagerduty` package's
    # HTTP client (httpx2) reads when it builds its TLS context.
    monkeypatch.setenv("SSL_CERT_FILE", bundle)
    receiver = PagerDutyReceiver(ssl_context=context, routing_keys={ROUTING_KEY}, api_tokens={PD_TOKEN}, user_emails={PD_FROM}).start()
    yield receiver
    receiver.stop()


def _integrations_off(settings) -> None:
    settings.SLACK_BOT_TOKEN = settings.SLACK_SIGNING_SECRET = settings.SLACK_CHANNEL = ""
    settings.SLACK_CLIENT_ID = settings.SLACK_CLIENT_SECRET = ""
    settings.SLACK_ENABLED = settings.SLACK_OAUTH_ENABLED = False
    settings.PAGERDUTY_ROUTING_KEY = settings.PAGERDUTY_API_TOKEN = settings.PAGERDUTY_FROM_EMAIL = ""
    settings.PAGERDUTY_WEBHOOK_SECRET = []
    settings.PAGERDUTY_ENABLED = settings.PAGERDUTY_API_ENABLED = False
    settings.PAGERDUTY_MIN_SEVERITY = "critical"
    settings.CLEARA_BASE_URL = "https://cleara.example.com"


@pytest.fixture(autouse=True)
def integrations_off(settings):
    """Nothing configured unless a test asks for it (whatever the environment says)."""
    _integrations_off(settings)


@pytest.fixture
def slack(settings, slack_receiver) -> SlackReceiver:
    settings.SLACK_BOT_TOKEN = BOT_TOKEN
    settings.SLACK_SIGNING_SECRET = SIGNING_SECRET
    settings.SLACK_CHANNEL = CHANNEL
    settings.SLACK_API_URL = slack_receiver.api_url
    settings.SLACK_ENABLED = True
    return slack_receiver


@pytest.fixture
def pagerduty(settings, pagerduty_receiver) -> PagerDutyReceiver:
    settings.PAGERDUTY_ROUTING_KEY = ROUTING_KEY
    settings.PAGERDUTY_EVENTS_URL = pagerduty_receiver.url
    settings.PAGERDUTY_API_TOKEN = PD_TOKEN
    settings.PAGERDUTY_API_URL = pagerduty_receiver.url
    settings.PAGERDUTY_FROM_EMAIL = PD_FROM
    settings.PAGERDUTY_WEBHOOK_SECRET = list(PD_SECRETS)
    settings.PAGERDUTY_ENABLED = settings.PAGERDUTY_API_ENABLED = True
    return pagerduty_receiver


@pytest.fixture
def oncall(django_user_model):
    """The Cleara user behind Slack user U0ONCALL01 (same e-mail), a responder."""
    from access.roles import Role, assign_role

    user = django_user_model.objects.create_user(username="pat", email="oncall@example.com", password="pw-pat-12345")
    assign_role(user, Role.RESPONDER)
    return user


@pytest.fixture
def open_incident(db, django_capture_on_commit_callbacks):
    """Open an incident the way the correlation engine does (incidents.services.incident_open: the
    row, its `opened` audit entry and the hook, in one transaction); then run what was queued on
    commit (the deliveries)."""

    def open_(**kwargs) -> Incident:
        with django_capture_on_commit_callbacks(execute=True):
            with transaction.atomic():
                incident = incident_opened(**kwargs)
        incident.refresh_from_db()
        return incident

    return open_


@pytest.fixture
def change_root_cause(django_capture_on_commit_callbacks):
    """Move the top root-cause hypothesis, as the correlation engine does when evidence arrives
    (incidents.services.incident_analysis_update)."""

    def change(incident: Incident, service, confidence: float) -> Incident:
        with django_capture_on_commit_callbacks(execute=True):
            with transaction.atomic():
                new = Hypothesis(service=service, score=confidence, reasons=("errors rose first here",))
                analysis = incident_analysis(
                    services=[service], title=incident.title, severity=incident.severity, confidence=confidence,
                    started_at=incident.started_at, last_event_at=incident.last_event_at, hypotheses=[new, *incident.analysis],
                    summary=incident.summary, event_count=incident.event_count, alert_count=incident.alert_count,
                )
                incident_analysis_update(incident=incident, analysis=analysis)
        incident.refresh_from_db()
        return incident

    return change


def slack_signature(body: str, *, secret: str = SIGNING_SECRET, timestamp: int | None = None) -> dict:
    """The headers Slack sends with a request: X-Slack-Request-Timestamp and X-Slack-Signature."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"v0:{timestamp}:{body}".encode(), hashlib.sha256).hexdigest()
    return {"HTTP_X_SLACK_REQUEST_TIMESTAMP": str(timestamp), "HTTP_X_SLACK_SIGNATURE": f"v0={digest}"}


def slash_command_body(text: str, *, response_url: str, user_id: str = "U0ONCALL01", team_id: str = TEAM) -> str:
    return urllib.parse.urlencode({
        "token": "fakeVerificationToken00", "team_id": team_id, "team_domain": "cleara-fake", "channel_id": CHANNEL,
        "channel_name": "alerts", "user_id": user_id, "user_name": "oncall", "command": "/cleara", "text": text,
        "api_app_id": "A0FAKE0001", "response_url": response_url, "trigger_id": "1700000000.1.abc",
    })


def block_action_body(action_id: str, value: str, *, response_url: str, channel: str = CHANNEL, ts: str = "1700000000.000100",
                      user_id: str = "U0ONCALL01", team_id: str = TEAM) -> str:
    payload = {
        "type": "block_actions", "user": {"id": user_id, "username": "oncall", "name": "oncall", "team_id": team_id},
        "api_app_id": "A0FAKE0001", "token": "fakeVerificationToken00",
        "container": {"type": "message", "message_ts": ts, "channel_id": channel, "is_ephemeral": False},
        "trigger_id": "1700000000.1.abc", "team": {"id": team_id, "domain": "cleara-fake"}, "enterprise": None,
        "is_enterprise_install": False, "channel": {"id": channel, "name": "alerts"},
        "message": {"type": "message", "ts": ts, "text": "incident"}, "state": {"values": {}}, "response_url": response_url,
        "actions": [{"type": "button", "action_id": action_id, "block_id": "incident_actions",
                     "text": {"type": "plain_text", "text": action_id}, "value": value, "action_ts": "1700000001.000000"}],
    }
    return urllib.parse.urlencode({"payload": json.dumps(payload)})
