"""What each incident change puts in the outbox, in the change's own transaction, and what it does not."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from incidents import hooks
from incidents.models import Incident, TimelineEvent
from incidents.services import incident_assign, incident_set_status, incident_split_record, note_add, timeline_event_record
from integrations import outbox
from integrations.models import OutboxMessage, PagerDutyIncident
from integrations.tests.conftest import CHANNEL

pytestmark = pytest.mark.django_db


def kinds() -> list[str]:
    return list(OutboxMessage.objects.order_by("id").values_list("kind", flat=True))


def in_transaction(capture, fn, **kwargs):
    with capture(execute=True):
        with transaction.atomic():
            return fn(**kwargs)


def test_rows_commit_or_roll_back_with_the_change(slack, pagerduty, make_incident, django_capture_on_commit_callbacks):
    incident = make_incident()
    with pytest.raises(RuntimeError), django_capture_on_commit_callbacks(execute=True):
        with transaction.atomic():
            incident_set_status(incident=incident, status=Incident.Status.INVESTIGATING)
            assert kinds() == ["slack.update", "slack.thread"]  # written inside the transaction…
            raise RuntimeError("the change fails after the hook ran")
    assert kinds() == [] and slack.calls == [] and pagerduty.calls == []  # …and gone with it
    incident.refresh_from_db()
    assert incident.status == Incident.Status.OPEN


def test_nothing_is_written_when_nothing_is_configured(open_incident):
    open_incident()
    assert kinds() == []


def test_opening_posts_and_pages_critical_incidents_only(slack, pagerduty, open_incident):
    open_incident(severity="warning")
    assert kinds() == ["slack.post"]
    open_incident(severity="critical")
    assert kinds() == ["slack.post", "slack.post", "pagerduty.event", "pagerduty.note"]


def test_the_paging_threshold_is_a_setting(settings, slack, pagerduty, open_incident):
    settings.PAGERDUTY_MIN_SEVERITY = "warning"
    open_incident(severity="warning")
    open_incident(severity="info")
    assert [e["payload"]["severity"] for e in pagerduty.events()] == ["warning"]


def test_a_severity_raised_to_critical_pages(slack, pagerduty, open_incident, django_capture_on_commit_callbacks):
    incident = open_incident(severity="warning")

    def escalate():
        Incident.objects.filter(pk=incident.pk).update(severity="critical")
        timeline_event_record(incident=incident, kind=TimelineEvent.Kind.SEVERITY, from_value="warning", to_value="critical")
        hooks.incident_changed(hooks.IncidentChange(incident.pk, "severity", "system", {"from": "warning", "to": "critical"}))

    in_transaction(django_capture_on_commit_callbacks, escalate)
    assert [e["event_action"] for e in pagerduty.events()] == ["trigger"]
    ts = incident.slack_messages.get().ts
    assert slack.thread(CHANNEL, ts)[-1]["text"] == ":red_circle: Severity: warning → *critical*"
    assert ":red_circle: Critical" in str(slack.message(CHANNEL, ts)["blocks"])


def test_a_new_root_cause_hypothesis_is_said_in_the_thread_and_noted_in_pagerduty(slack, pagerduty, open_incident, change_root_cause):
    incident = open_incident(services=["checkout", "payments"])
    change_root_cause(incident, "payments", 0.81)
    ts = incident.slack_messages.get().ts
    assert slack.thread(CHANNEL, ts)[-1]["text"] == ":bulb: Root-cause hypothesis changed: checkout → *payments* (81% confidence)"
    assert "payments (81% confidence)" in str(slack.message(CHANNEL, ts)["blocks"])
    pd_id = PagerDutyIncident.objects.get(incident=incident).pd_incident_id
    contents = [n["content"] for n in pagerduty.notes[pd_id]]
    assert contents[0].startswith("Probable root cause: checkout (90% confidence)")
    assert contents[1].startswith("Root-cause hypothesis changed: checkout → payments (81% confidence)\n")
    assert "Why: errors rose first here" in contents[1]
    assert all(c.endswith(m.key) for c, m in zip(contents, OutboxMessage.objects.filter(kind="pagerduty.note").order_by("id")))


def test_a_split_is_said_in_the_source_thread_and_noted_on_its_page(slack, pagerduty, open_incident, django_capture_on_commit_callbacks):
    source = open_incident(services=["gateway", "orders"], severity="critical")
    split = open_incident(services=["payments"], severity="warning")
    message = f"Split: #{split.number} opened for payments, which logged errors of its own from 10:00:00 UTC, naming nothing it calls."
    in_transaction(django_capture_on_commit_callbacks, incident_split_record, source=source, split=split, message=message)
    line = slack.thread(CHANNEL, source.slack_messages.get().ts)[-1]["text"]
    assert line.startswith(f":scissors: Split: #{split.number} opened for payments, which logged errors of its own")
    assert line.endswith(f"{split.get_absolute_url()}|Open #{split.number} in Cleara>")
    assert slack.thread(CHANNEL, split.slack_messages.get().ts) == []  # the new incident has its own post
    pd_id = PagerDutyIncident.objects.get(incident=source).pd_incident_id
    last = pagerduty.notes[pd_id][-1]["content"]
    assert last.startswith(message + f"\nIncident #{split.number} in Cleara: http")
    assert not PagerDutyIncident.objects.filter(incident=split).exists()  # a warning does not page


def test_only_the_confidence_moving_is_no_news(slack, pagerduty, open_incident, change_root_cause):
    incident = open_incident()
    change_root_cause(incident, "checkout", 0.95)  # the engine re-ranks: same root, surer
    assert slack.thread(CHANNEL, incident.slack_messages.get().ts) == []
    assert len(pagerduty.calls_to("/notes")) == 1  # the first note only
    # A routine update for the engine (incidents.services.incident_analysis_update): the message
    # is refreshed with the others, after the wait.
    [update] = OutboxMessage.objects.filter(kind="slack.update")
    outbox.outbox_deliver_due(now=update.next_attempt_at)
    assert "checkout (95% confidence)" in str(slack.message(CHANNEL, incident.slack_messages.get().ts)["blocks"])


def test_routine_updates_wait_and_come_as_one_refresh(slack, open_incident, django_capture_on_commit_callbacks):
    incident = open_incident()

    def more_events():
        hooks.incident_changed(hooks.IncidentChange(incident.pk, "updated", "system", {"events": 10}))

    before = timezone.now()
    for _ in range(5):
        in_transaction(django_capture_on_commit_callbacks, more_events)
    [update] = OutboxMessage.objects.filter(kind="slack.update")
    assert update.next_attempt_at >= before + timedelta(seconds=30) and update.attempts == 0
    assert not slack.calls_to("/chat.update")
    outbox.outbox_deliver_due(now=update.next_attempt_at)
    assert len(slack.calls_to("/chat.update")) == 1


def test_a_real_change_takes_a_waiting_refresh_along(slack, open_incident, django_capture_on_commit_callbacks):
    incident = open_incident()
    in_transaction(django_capture_on_commit_callbacks, lambda: hooks.incident_changed(hooks.IncidentChange(incident.pk, "updated", "system")))
    in_transaction(django_capture_on_commit_callbacks, incident_set_status, incident=incident, status=Incident.Status.INVESTIGATING)
    assert kinds() == ["slack.post", "slack.update", "slack.thread"]
    assert {m.status for m in OutboxMessage.objects.all()} == {"delivered"}


def test_changes_made_in_slack_refresh_the_message_but_say_nothing_more_there(slack, pagerduty, oncall, open_incident, django_capture_on_commit_callbacks):
    incident = open_incident()
    in_transaction(django_capture_on_commit_callbacks, incident_set_status, incident=incident, status="investigating", by=oncall, origin="slack")
    in_transaction(django_capture_on_commit_callbacks, incident_assign, incident=incident, assignee=oncall, by=oncall, origin="slack")
    assert kinds()[3:] == ["slack.update", "pagerduty.event", "slack.update"]
    assert slack.thread(CHANNEL, incident.slack_messages.get().ts) == []
    assert "Assignee: pat" in str(slack.message(CHANNEL, incident.slack_messages.get().ts)["blocks"])


def test_changes_made_in_pagerduty_are_not_sent_back_to_it(slack, pagerduty, open_incident, django_capture_on_commit_callbacks):
    incident = open_incident()
    in_transaction(django_capture_on_commit_callbacks, incident_set_status, incident=incident, status="investigating", origin="pagerduty")
    in_transaction(django_capture_on_commit_callbacks, note_add, incident=incident, body="from PD", origin="pagerduty", author_name="Pat")
    assert [k for k in kinds() if k.startswith("pagerduty")] == ["pagerduty.event", "pagerduty.note"]  # the opening only
    assert [m["text"] for m in slack.thread(CHANNEL, incident.slack_messages.get().ts)] == [
        ":mag: Status: open → *investigating* (PagerDuty)", ":memo: Note from Pat (PagerDuty):\nfrom PD",
    ]


def test_a_console_note_goes_to_both(slack, pagerduty, user, open_incident, django_capture_on_commit_callbacks):
    incident = open_incident()
    in_transaction(django_capture_on_commit_callbacks, note_add, incident=incident, body="Rolling back **4711**", author=user)
    assert slack.thread(CHANNEL, incident.slack_messages.get().ts)[-1]["text"] == ":memo: Note from oncall (Console):\nRolling back **4711**"
    pd_id = PagerDutyIncident.objects.get(incident=incident).pd_incident_id
    assert pagerduty.notes[pd_id][-1]["content"].startswith("Note in Cleara by oncall:\nRolling back **4711**\n— sent by Cleara, ref ")


def test_reopening_a_resolved_incident_pages_again(slack, pagerduty, open_incident, django_capture_on_commit_callbacks):
    incident = open_incident()
    in_transaction(django_capture_on_commit_callbacks, incident_set_status, incident=incident, status="resolved")
    in_transaction(django_capture_on_commit_callbacks, incident_set_status, incident=incident, status="open")
    assert [e["event_action"] for e in pagerduty.events()] == ["trigger", "resolve", "trigger"]
    assert len(pagerduty.incidents) == 2  # PagerDuty made a new incident for the new trigger
    record = PagerDutyIncident.objects.get(incident=incident)
    assert pagerduty.incidents[record.pd_incident_id]["status"] == "triggered"
    assert len(pagerduty.notes[record.pd_incident_id]) == 1  # the root cause, on the new one
