"""/slack/events: signed slash commands and button clicks, bad and stale signatures, and the work
done as the mapped Cleara user through a task (answered through the response_url)."""
from __future__ import annotations

import pytest
import time_machine
from django.test import Client

from access.models import AuditEntry
from access.roles import Role, assign_role
from incidents.models import Incident, TimelineEvent
from integrations.factories import SlackUserLinkFactory
from integrations.models import InboundPayload, OutboxMessage, SlackUserLink
from integrations.slack import client as slack_client
from integrations.tests.conftest import BOT_TOKEN, CHANNEL, SIGNING_SECRET, TEAM, block_action_body, slack_signature, slash_command_body
from integrations.tests.receivers import SlackReceiver

pytestmark = pytest.mark.django_db

FORM = "application/x-www-form-urlencoded"

# ../shared/vectors: Slack's own published example, and a block_actions click signed for Cleara.
SLACK_EXAMPLE_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
SLACK_EXAMPLE_TIMESTAMP = 1531420618
SLACK_EXAMPLE_SIGNATURE = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
SLACK_EXAMPLE_BODY = (
    "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar"
    "&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com"
    "%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
)
BLOCK_ACTIONS_TIMESTAMP = 1700000000
BLOCK_ACTIONS_SIGNATURE = "v0=5563ca748147d67a0c099ccde45e7f35ce6271a6c0667ec2bab216284d2bd335"
BLOCK_ACTIONS_BODY = (
    "payload=%7B%22type%22%3A%22block_actions%22%2C%22user%22%3A%7B%22id%22%3A%22U0ONCALL01%22%2C%22username%22%3A%22oncall"
    "%22%2C%22name%22%3A%22oncall%22%2C%22team_id%22%3A%22T0FAKE0001%22%7D%2C%22api_app_id%22%3A%22A0FAKE0001%22%2C%22token"
    "%22%3A%22fakeVerificationToken00%22%2C%22container%22%3A%7B%22type%22%3A%22message%22%2C%22message_ts%22%3A%221700000000"
    ".000100%22%2C%22channel_id%22%3A%22C0ALERTS01%22%2C%22is_ephemeral%22%3Afalse%7D%2C%22trigger_id%22%3A%221700000000."
    "47445629121.0123456789abcdef0123456789abcdef%22%2C%22team%22%3A%7B%22id%22%3A%22T0FAKE0001%22%2C%22domain%22%3A%22"
    "cleara-fake%22%7D%2C%22enterprise%22%3Anull%2C%22is_enterprise_install%22%3Afalse%2C%22channel%22%3A%7B%22id%22%3A%22"
    "C0ALERTS01%22%2C%22name%22%3A%22alerts%22%7D%2C%22message%22%3A%7B%22type%22%3A%22message%22%2C%22ts%22%3A%22"
    "1700000000.000100%22%2C%22text%22%3A%22INC-42%3A+DB+latency%22%7D%2C%22state%22%3A%7B%22values%22%3A%7B%7D%7D%2C%22"
    "response_url%22%3A%22http%3A%2F%2F127.0.0.1%3A8765%2Factions%2FT0FAKE0001%2F100000000001%2Fabc%22%2C%22actions%22%3A%5B"
    "%7B%22type%22%3A%22button%22%2C%22action_id%22%3A%22incident_acknowledge%22%2C%22block_id%22%3A%22incident_actions%22"
    "%2C%22text%22%3A%7B%22type%22%3A%22plain_text%22%2C%22text%22%3A%22Acknowledge%22%2C%22emoji%22%3Atrue%7D%2C%22value"
    "%22%3A%22INC-42%22%2C%22style%22%3A%22primary%22%2C%22action_ts%22%3A%221700000001.000000%22%7D%5D%7D"
)


def post(client: Client, body: str, headers: dict, capture):
    client.handler.enforce_csrf_checks = True  # Slack sends no CSRF token: the signature is the check
    with capture(execute=True):
        return client.post("/slack/events", body, content_type=FORM, **headers)


# --- the signature itself, against the shared vectors --------------------------------------------


def test_slack_published_example_verifies_within_the_window_only():
    kw = dict(secret=SLACK_EXAMPLE_SECRET, body=SLACK_EXAMPLE_BODY, timestamp=str(SLACK_EXAMPLE_TIMESTAMP), signature=SLACK_EXAMPLE_SIGNATURE)
    assert slack_client.signature_valid(**kw, now=SLACK_EXAMPLE_TIMESTAMP + 10)
    assert slack_client.signature_valid(**kw, now=SLACK_EXAMPLE_TIMESTAMP + 299)
    assert not slack_client.signature_valid(**kw, now=SLACK_EXAMPLE_TIMESTAMP + 301)  # replayed
    assert not slack_client.signature_valid(**{**kw, "secret": "another-secret"}, now=SLACK_EXAMPLE_TIMESTAMP)
    assert not slack_client.signature_valid(**{**kw, "body": SLACK_EXAMPLE_BODY + "&x=1"}, now=SLACK_EXAMPLE_TIMESTAMP)


def test_block_actions_vector_verifies():
    assert slack_client.signature_valid(
        secret=SIGNING_SECRET, body=BLOCK_ACTIONS_BODY, timestamp=str(BLOCK_ACTIONS_TIMESTAMP), signature=BLOCK_ACTIONS_SIGNATURE, now=BLOCK_ACTIONS_TIMESTAMP
    )


# --- through /slack/events ---------------------------------------------------------------------


def test_the_signed_block_actions_vector_acknowledges_incident_42(settings, make_incident, oncall, django_capture_on_commit_callbacks):
    """The click in the shared vector, as Slack sent it, at the time it was signed: its response_url
    is http://127.0.0.1:8765/..., so the receiver listens there."""
    receiver = SlackReceiver(port=8765, tokens={BOT_TOKEN}, channels={CHANNEL: "alerts"}, users={"U0ONCALL01": "oncall@example.com"}, team_id=TEAM).start()
    try:
        settings.SLACK_BOT_TOKEN, settings.SLACK_SIGNING_SECRET, settings.SLACK_CHANNEL = BOT_TOKEN, SIGNING_SECRET, CHANNEL
        settings.SLACK_API_URL, settings.SLACK_ENABLED = receiver.api_url, True
        incident = make_incident(number=42, title="DB latency")
        headers = {"HTTP_X_SLACK_REQUEST_TIMESTAMP": str(BLOCK_ACTIONS_TIMESTAMP), "HTTP_X_SLACK_SIGNATURE": BLOCK_ACTIONS_SIGNATURE}
        with time_machine.travel(BLOCK_ACTIONS_TIMESTAMP + 1, tick=True):
            response = post(Client(), BLOCK_ACTIONS_BODY, headers, django_capture_on_commit_callbacks)
        assert response.status_code == 200
        incident.refresh_from_db()
        assert incident.status == Incident.Status.INVESTIGATING
        entry = incident.timeline.get(kind=TimelineEvent.Kind.STATUS)
        assert (entry.actor, entry.origin, entry.from_value, entry.to_value) == (oncall, "slack", "open", "investigating")
        assert [r["text"] for r in receiver.responses] == [":eyes: You acknowledged incident #42: it is now investigating."]
        assert receiver.calls_to("/actions/T0FAKE0001/100000000001/abc")[0].status == 200
        assert SlackUserLink.objects.get(team_id=TEAM, slack_user_id="U0ONCALL01").user == oncall
    finally:
        receiver.stop()


@pytest.mark.parametrize("shift, expected", [(0, 200), (299, 200), (301, 401), (-301, 401)])
def test_stale_signatures_are_refused(slack, make_incident, oncall, django_capture_on_commit_callbacks, shift, expected):
    make_incident(number=7)
    body = slash_command_body("incident 7", response_url=slack.response_url())
    with time_machine.travel(1_800_000_000 + shift, tick=False):
        response = post(Client(), body, slack_signature(body, timestamp=1_800_000_000), django_capture_on_commit_callbacks)
    assert response.status_code == expected
    assert InboundPayload.objects.filter(source="slack").count() == (1 if expected == 200 else 0)


def test_bad_or_missing_signatures_are_refused(slack, make_incident, django_capture_on_commit_callbacks):
    incident = make_incident(number=7)
    body = slash_command_body("ack 7", response_url=slack.response_url())
    client = Client()
    assert post(client, body, slack_signature(body, secret="not-the-secret"), django_capture_on_commit_callbacks).status_code == 401
    assert post(client, body, {}, django_capture_on_commit_callbacks).status_code == 401
    tampered = body.replace("ack+7", "resolve+7")
    assert post(client, tampered, slack_signature(body), django_capture_on_commit_callbacks).status_code == 401
    incident.refresh_from_db()
    assert incident.status == Incident.Status.OPEN and not slack.responses and not InboundPayload.objects.exists()


def test_events_endpoint_is_off_without_a_signing_secret(db):
    assert Client().post("/slack/events", "a=b", content_type=FORM).status_code == 404


def command(slack, text: str, capture, *, user_id: str = "U0ONCALL01"):
    body = slash_command_body(text, response_url=slack.response_url(), user_id=user_id)
    return post(Client(), body, slack_signature(body), capture)


def test_help_is_answered_in_the_acknowledgement(slack, django_capture_on_commit_callbacks):
    response = command(slack, "help", django_capture_on_commit_callbacks)
    assert response.status_code == 200 and "/cleara ack <number>" in response.content.decode()
    unknown = command(slack, "dance", django_capture_on_commit_callbacks)
    assert "I don't know `dance`" in unknown.content.decode()
    assert not InboundPayload.objects.exists()  # nothing to do later


def test_incidents_lists_the_open_ones(slack, make_incident, django_capture_on_commit_callbacks):
    make_incident(number=5, title="Checkout slow")
    make_incident(number=6, title="Old one", status=Incident.Status.RESOLVED)
    response = command(slack, "incidents", django_capture_on_commit_callbacks)
    assert response.status_code == 200
    [reply] = slack.responses
    assert reply["response_type"] == "ephemeral" and reply["text"] == "1 open incidents"
    shown = " ".join(b["text"]["text"] for b in reply["blocks"] if b["type"] == "section")
    assert "#5>" in shown and "Checkout slow" in shown and "Old one" not in shown


def test_incident_shows_one(slack, make_incident, django_capture_on_commit_callbacks):
    make_incident(number=9, title="Payments errors", services=["payments", "checkout"])
    command(slack, "incident 9", django_capture_on_commit_callbacks)
    [reply] = slack.responses
    assert reply["text"].startswith("[CRITICAL] #9 Payments errors")
    assert any(b["type"] == "actions" for b in reply["blocks"])
    command(slack, "incident 999", django_capture_on_commit_callbacks)
    assert slack.responses[-1]["text"] == "There is no incident #999."


def test_ack_and_resolve_commands_change_the_incident_as_the_slack_user(slack, make_incident, oncall, django_capture_on_commit_callbacks):
    incident = make_incident(number=11)
    command(slack, "ack 11", django_capture_on_commit_callbacks)
    incident.refresh_from_db()
    assert incident.status == Incident.Status.INVESTIGATING
    command(slack, "resolve INC-11", django_capture_on_commit_callbacks)
    incident.refresh_from_db()
    assert incident.status == Incident.Status.RESOLVED
    entries = list(incident.timeline.filter(kind=TimelineEvent.Kind.STATUS).values_list("actor__username", "origin", "to_value"))
    assert entries == [("pat", "slack", "investigating"), ("pat", "slack", "resolved")]
    assert [r["text"] for r in slack.responses] == [
        ":eyes: You acknowledged incident #11: it is now investigating.",
        ":white_check_mark: You resolved incident #11.",
    ]
    # users.info was asked once; the link is kept.
    assert len(slack.calls_to("/users.info")) == 1


def test_an_unknown_slack_user_changes_nothing(slack, make_incident, django_capture_on_commit_callbacks):
    incident = make_incident(number=12)
    slack.users["U0STRANGER"] = "stranger@elsewhere.example"
    command(slack, "ack 12", django_capture_on_commit_callbacks, user_id="U0STRANGER")
    incident.refresh_from_db()
    assert incident.status == Incident.Status.OPEN
    assert "no Cleara user has the e-mail stranger@elsewhere.example" in slack.responses[-1]["text"]
    entry = AuditEntry.objects.get(action="slack:ack")
    assert (entry.actor, entry.actor_label, entry.via, entry.target, entry.allowed) == (None, "slack:U0STRANGER (no Cleara user)", "slack", "incident 12", False)


@pytest.mark.parametrize("text", ["ack 15", "resolve 15", "investigate 15"])
def test_a_slack_user_mapped_to_a_viewer_is_told_their_role_cannot(slack, make_incident, oncall, text, django_capture_on_commit_callbacks):
    assign_role(oncall, Role.VIEWER)
    incident = make_incident(number=15)
    command(slack, text, django_capture_on_commit_callbacks)
    incident.refresh_from_db()
    assert incident.status == Incident.Status.OPEN and incident.assignee is None
    assert not incident.timeline.filter(kind__in=[TimelineEvent.Kind.STATUS, TimelineEvent.Kind.ASSIGNED]).exists()
    [reply] = slack.responses
    assert reply["text"].startswith(":no_entry: As Cleara user pat, your role (viewer) cannot ")
    assert "needs the responder role" in reply["text"]
    assert reply["response_type"] == "ephemeral"
    entry = AuditEntry.objects.get()
    assert (entry.actor, entry.actor_label, entry.allowed) == (oncall, "slack:U0ONCALL01 as pat", False)


def test_a_change_from_slack_is_in_the_audit_log_by_whom(slack, make_incident, oncall, django_capture_on_commit_callbacks):
    make_incident(number=16)
    command(slack, "resolve 16", django_capture_on_commit_callbacks)
    entry = AuditEntry.objects.get()
    assert (entry.actor, entry.actor_label, entry.via, entry.action, entry.target, entry.allowed) == (oncall, "slack:U0ONCALL01 as pat", "slack", "slack:resolve", "incident 16", True)


def test_an_explicit_link_wins_over_the_email(slack, make_incident, django_user_model, django_capture_on_commit_callbacks):
    lee = django_user_model.objects.create_user(username="lee", email="lee@example.com")
    assign_role(lee, Role.RESPONDER)
    SlackUserLinkFactory(team_id=TEAM, slack_user_id="U0NOEMAIL1", user=lee)
    incident = make_incident(number=13)
    command(slack, "ack 13", django_capture_on_commit_callbacks, user_id="U0NOEMAIL1")
    assert incident.timeline.get(kind=TimelineEvent.Kind.STATUS).actor == lee
    assert not slack.calls_to("/users.info")


def test_a_refused_transition_is_explained(slack, make_incident, oncall, django_capture_on_commit_callbacks):
    make_incident(number=14, status=Incident.Status.RESOLVED)
    command(slack, "ack 14", django_capture_on_commit_callbacks)
    assert "incident #14 is resolved; it cannot become investigating" in slack.responses[-1]["text"]


@pytest.mark.parametrize("action_id, status, assigned", [
    ("incident_acknowledge", Incident.Status.INVESTIGATING, False),
    ("incident_investigate", Incident.Status.INVESTIGATING, True),
    ("incident_resolve", Incident.Status.RESOLVED, False),
])
def test_buttons(slack, make_incident, oncall, django_capture_on_commit_callbacks, action_id, status, assigned):
    incident = make_incident(number=21)
    body = block_action_body(action_id, "INC-21", response_url=slack.response_url())
    response = post(Client(), body, slack_signature(body), django_capture_on_commit_callbacks)
    assert response.status_code == 200 and response.content == b""
    incident.refresh_from_db()
    assert incident.status == status
    assert (incident.assignee == oncall) is assigned
    assert incident.timeline.filter(kind=TimelineEvent.Kind.STATUS, actor=oncall, origin="slack").exists()


def test_the_link_button_is_only_acknowledged(slack, make_incident, django_capture_on_commit_callbacks):
    make_incident(number=22)
    body = block_action_body("incident_open", "INC-22", response_url=slack.response_url())
    assert post(Client(), body, slack_signature(body), django_capture_on_commit_callbacks).status_code == 200
    assert not InboundPayload.objects.exists() and not slack.responses


def test_a_task_run_twice_does_the_work_once(slack, make_incident, oncall, django_capture_on_commit_callbacks):
    from integrations.slack.interactions import slack_interaction_process

    incident = make_incident(number=23)
    command(slack, "ack 23", django_capture_on_commit_callbacks)
    payload = InboundPayload.objects.get(source="slack")
    assert slack_interaction_process(payload_id=payload.pk) == "processed"
    assert incident.timeline.filter(kind=TimelineEvent.Kind.STATUS).count() == 1
    assert OutboxMessage.objects.filter(kind="slack.respond").count() == 1


def test_an_answer_does_not_wait_behind_a_routine_refresh(slack, open_incident, django_capture_on_commit_callbacks):
    from django.db import transaction

    from incidents import hooks

    incident = open_incident()
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        hooks.incident_changed(hooks.IncidentChange(incident.pk, "updated", "system"))
    assert OutboxMessage.objects.get(kind="slack.update").status == "pending"  # waits UPDATED_DELAY
    command(slack, f"incident {incident.number}", django_capture_on_commit_callbacks)
    assert slack.responses[-1]["text"].startswith(f"[CRITICAL] #{incident.number} ")
