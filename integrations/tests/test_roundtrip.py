"""Round trips through Cleara, Slack and PagerDuty (the receivers), and an outage.

After every step the three must agree: Cleara's status, what the Slack message says, and the
PagerDuty incident's status (open ↔ triggered, investigating ↔ acknowledged, resolved and false
positive ↔ resolved).
"""
from __future__ import annotations

import random
from datetime import timedelta

import pytest
from django.db import transaction
from django.test import Client
from django.utils import timezone

from incidents.models import Incident, TimelineEvent
from incidents.services import incident_resolve, incident_set_status, note_add
from integrations import outbox
from integrations.models import OutboxMessage, SlackMessage
from integrations.tests.conftest import CHANNEL, PD_SECRETS, block_action_body, slack_signature

pytestmark = pytest.mark.django_db

PD_STATUS = {"open": "triggered", "investigating": "acknowledged", "resolved": "resolved", "false_positive": "resolved"}
SLACK_LABEL = {"open": ":rotating_light: Open", "investigating": ":mag: Investigating", "resolved": ":white_check_mark: Resolved", "false_positive": ":heavy_minus_sign: False positive"}


def slack_status(slack, incident) -> str:
    message = slack.message(CHANNEL, SlackMessage.objects.get(incident=incident).ts)
    fields = message["blocks"][1]["fields"]
    return fields[1]["text"].split("\n", 1)[1]


def assert_in_sync(slack, pagerduty, incident):
    incident.refresh_from_db()
    assert slack_status(slack, incident) == SLACK_LABEL[incident.status]
    assert pagerduty.incident_for(f"cleara-INC-{incident.number}")["status"] == PD_STATUS[incident.status]


def click(slack, capture, action_id: str, incident):
    body = block_action_body(action_id, f"INC-{incident.number}", response_url=slack.response_url())
    with capture(execute=True):
        assert Client().post("/slack/events", body, content_type="application/x-www-form-urlencoded", **slack_signature(body)).status_code == 200


def pd_act(pagerduty, capture, incident, event_type: str):
    pd_id = pagerduty.incident_for(f"cleara-INC-{incident.number}")["id"]
    body, headers = pagerduty.act(pd_id, event_type, secrets_=PD_SECRETS)
    with capture(execute=True):
        assert Client().post("/api/v1/integrations/pagerduty/webhook", body, content_type="application/json",
                             HTTP_X_PAGERDUTY_SIGNATURE=headers["X-PagerDuty-Signature"]).status_code == 202


def console(capture, fn, **kwargs):
    with capture(execute=True):
        with transaction.atomic():
            fn(**kwargs)


def test_open_ack_in_slack_resolve_in_pagerduty(slack, pagerduty, oncall, open_incident, django_capture_on_commit_callbacks):
    capture = django_capture_on_commit_callbacks
    # Open in Cleara: the Slack message and the PagerDuty trigger (with the root-cause note).
    incident = open_incident(title="Checkout p99 above 2s", services=["payments", "checkout"])
    [post] = slack.posts()
    assert post["channel"] == CHANNEL and post["text"] == f"[CRITICAL] #{incident.number} Checkout p99 above 2s — Open"
    [trigger] = pagerduty.events()
    assert trigger["event_action"] == "trigger" and trigger["dedup_key"] == f"cleara-INC-{incident.number}"
    assert trigger["payload"]["custom_details"]["root_cause"] == "payments"
    assert trigger["payload"]["custom_details"]["affected_services"] == ["checkout", "payments"]
    assert trigger["links"][0]["href"] == f"https://cleara.example.com/incidents/{incident.number}/"
    pd_id = pagerduty.incident_for(trigger["dedup_key"])["id"]
    assert pagerduty.notes[pd_id][0]["content"].startswith("Probable root cause: payments (90% confidence)")
    assert_in_sync(slack, pagerduty, incident)

    # Acknowledge in Slack: Cleara (as pat, from Slack), PagerDuty, and the Slack message.
    click(slack, capture, "incident_acknowledge", incident)
    assert_in_sync(slack, pagerduty, incident)
    assert incident.status == "investigating"
    assert incident.timeline.filter(kind=TimelineEvent.Kind.STATUS, actor=oncall, origin="slack").exists()
    assert [e["event_action"] for e in pagerduty.events()] == ["trigger", "acknowledge"]
    assert slack.responses[-1]["text"].startswith(":eyes: You acknowledged")

    # Resolve in PagerDuty: Cleara, and the Slack message with a line in its thread.
    pd_act(pagerduty, capture, incident, "incident.resolved")
    assert_in_sync(slack, pagerduty, incident)
    assert incident.status == "resolved"
    ts = SlackMessage.objects.get(incident=incident).ts
    assert f"#{incident.number} Checkout p99 above 2s (Resolved)" == slack.message(CHANNEL, ts)["blocks"][0]["text"]["text"]
    assert slack.thread(CHANNEL, ts)[-1]["text"] == ":white_check_mark: Status: investigating → *resolved* (PagerDuty)"
    assert [e["event_action"] for e in pagerduty.events()] == ["trigger", "acknowledge"]  # nothing sent back
    assert len(slack.top_messages(CHANNEL)) == 1  # one message, updated all along
    assert {m.status for m in OutboxMessage.objects.all()} <= {"delivered", "superseded"}


# Every way a status can change, and from where: Cleara's console, a Slack button, PagerDuty.
MOVES = {
    "open": [("pagerduty", "incident.acknowledged"), ("slack", "incident_acknowledge"), ("slack", "incident_investigate"),
             ("console", "investigating"), ("slack", "incident_resolve"), ("pagerduty", "incident.resolved"),
             ("console", "resolved"), ("console", "false_positive")],
    "investigating": [("pagerduty", "incident.resolved"), ("slack", "incident_resolve"), ("console", "resolved"),
                      ("console", "false_positive"), ("pagerduty", "incident.unacknowledged")],
    "resolved": [("pagerduty", "incident.reopened"), ("console", "open")],
    "false_positive": [("console", "open")],
}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_every_status_survives_the_round_trip(slack, pagerduty, oncall, open_incident, django_capture_on_commit_callbacks, seed):
    """A random walk of 12 status changes, each made in one of the three places; after each one the
    three agree (100% sync accuracy)."""
    capture = django_capture_on_commit_callbacks
    rng = random.Random(seed)
    incident = open_incident()
    seen = {incident.status}
    for _ in range(12):
        where, what = rng.choice(MOVES[incident.status])
        if where == "slack":
            click(slack, capture, what, incident)
        elif where == "pagerduty":
            pd_act(pagerduty, capture, incident, what)
        elif what == "false_positive":
            console(capture, incident_resolve, incident=incident, false_positive=True)
        else:
            console(capture, incident_set_status, incident=incident, status=what)
        assert_in_sync(slack, pagerduty, incident)
        seen.add(incident.status)
    assert {m.status for m in OutboxMessage.objects.all()} <= {"delivered", "superseded"}
    assert len(seen) >= 3


def test_an_outage_delays_and_loses_nothing(slack, pagerduty, oncall, open_incident, django_capture_on_commit_callbacks):
    """Both services are down while three incidents open and change; then they answer 503 and 429
    for a while; then they recover. Every notification arrives, exactly once and in order."""
    capture = django_capture_on_commit_callbacks
    slack.down()
    pagerduty.down()
    incidents = [open_incident(title=f"Outage victim {i}") for i in range(3)]
    console(capture, incident_set_status, incident=incidents[0], status=Incident.Status.INVESTIGATING)
    console(capture, note_add, incident=incidents[1], body="Looking at the load balancer")
    console(capture, incident_resolve, incident=incidents[2])
    assert slack.calls == [] and pagerduty.calls == []
    assert OutboxMessage.objects.filter(status="pending").count() == OutboxMessage.objects.count()

    now = timezone.now()
    for _ in range(3):  # still down: retried with backoff, nothing lost
        now += timedelta(minutes=15)
        outbox.outbox_deliver_due(now=now)
    assert OutboxMessage.objects.exclude(status="pending").count() == 0

    slack.up()
    pagerduty.up()
    slack.fail_next(2, status=503)
    pagerduty.rate_limit_next(2, retry_after=20)
    for _ in range(10):
        now += timedelta(minutes=15)
        outbox.outbox_deliver_due(now=now)
    assert {m.status for m in OutboxMessage.objects.all()} <= {"delivered", "superseded"}

    # Slack: one message per incident, each saying where the incident is now, and the thread lines.
    assert len(slack.top_messages(CHANNEL)) == 3
    for incident in incidents:
        incident.refresh_from_db()
        assert slack_status(slack, incident) == SLACK_LABEL[incident.status]
    thread_texts = [m["text"] for m in slack.posts() if m.get("thread_ts")]
    assert sorted(thread_texts) == sorted([
        ":mag: Status: open → *investigating* (Console)",
        ":memo: Note from someone (Console):\nLooking at the load balancer",
        ":white_check_mark: Status: open → *resolved* (Console)",
    ])
    # PagerDuty: per incident, its events in order, each once; one root-cause note each, plus the note.
    by_key = {}
    for event in pagerduty.events():
        by_key.setdefault(event["dedup_key"], []).append(event["event_action"])
    assert by_key == {
        f"cleara-INC-{incidents[0].number}": ["trigger", "acknowledge"],
        f"cleara-INC-{incidents[1].number}": ["trigger"],
        f"cleara-INC-{incidents[2].number}": ["trigger", "resolve"],
    }
    notes = {pd_id: [n["content"].split("\n")[0] for n in notes] for pd_id, notes in pagerduty.notes.items()}
    assert sorted(len(n) for n in notes.values()) == [1, 1, 2]
    assert sum(notes.values(), []).count("Note in Cleara:") == 1
