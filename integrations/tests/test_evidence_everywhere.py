"""The root-cause evidence of an incident the engine opens reaches Slack and PagerDuty, the same
events the console's root-cause step lists (issue 8: the notifications used to carry none).

A real stream goes in through POST /api/v1/events and the whole pipeline (ingest, anomaly
detection, correlation, incidents.services, the outbox, the local Slack and PagerDuty receivers).
"""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from incidents import screens
from incidents.models import Incident
from incidents.topology import topology_apply
from integrations.facts import MAX_EVIDENCE, evidence_line
from integrations.models import SlackMessage
from integrations.tests.conftest import CHANNEL

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def stream() -> list[dict]:
    """The database's connection pool runs out: its errors and alert first, then its callers'."""
    events = []
    for i in range(12):
        events.append({"id": f"db-log-{i}", "timestamp": (T0 + timedelta(seconds=10 * i)).isoformat(), "service": "orders-db",
                       "type": "log", "severity": "critical", "message": f"FATAL: sorry, too many clients already (conn {i})"})
    events.append({"id": "db-alert", "timestamp": (T0 + timedelta(minutes=1)).isoformat(), "service": "orders-db", "type": "alert",
                   "severity": "critical", "message": "Connection pool exhausted: 200/200 connections active"})
    for n, (service, message) in enumerate([("orders", "p99 latency above 2000ms"), ("storefront", "Error rate 12% above 5%")]):
        events.append({"id": f"{service}-alert", "timestamp": (T0 + timedelta(minutes=2 + n)).isoformat(), "service": service,
                       "type": "alert", "severity": "critical", "message": message})
    return events


@time_machine.travel(T0 + timedelta(hours=1), tick=True)  # the stream is dated T0: inside the ingest window
def test_slack_and_pagerduty_carry_the_evidence_the_console_shows(slack, pagerduty, api, logged_in_client, django_capture_on_commit_callbacks):
    topology_apply(services=[
        {"name": "orders-db", "tier": "database"},
        {"name": "orders", "depends_on": ["orders-db"]},
        {"name": "storefront", "depends_on": ["orders"]},
    ])
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post("/api/v1/events", stream())
    assert response.status_code == 202, response.content
    [incident] = Incident.objects.all()
    assert incident.root_cause_service.name == "orders-db"

    # The console: the root-cause step's evidence, strongest first.
    console = screens.incident_rca(incident=incident)["evidence"]
    assert len(console) >= 2  # the alert and the error logs (one entry per group of alike events)
    expected = [evidence_line(item["event"]) for item in console[:MAX_EVIDENCE]]
    page = logged_in_client.get(f"/incidents/{incident.number}/rca/").content.decode()
    for item in console:
        assert f'/incidents/{incident.number}/events/{item["event"].pk}/' in page

    # PagerDuty: the trigger's custom details.
    [trigger] = pagerduty.events()
    assert trigger["payload"]["custom_details"]["evidence"] == expected

    # Slack: the message's evidence section, one bullet per event (Slack escapes <, > and &).
    message = slack.message(CHANNEL, SlackMessage.objects.get(incident=incident).ts)
    [section] = [b for b in message["blocks"] if b["type"] == "section" and b.get("text", {}).get("text", "").startswith("*Evidence*")]
    bullets = re.findall(r"^• (.*)$", section["text"]["text"], flags=re.M)
    assert bullets == [e.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") for e in expected]
