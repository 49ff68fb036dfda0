"""The outbox against the receivers: backoff, Retry-After, no retry on a refusal, order within a
stream, and no double post after an unclear failure. Retries run at a chosen time
(`outbox_deliver_due(now=...)`), never after a sleep."""
from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from incidents.models import Incident
from incidents.services import incident_set_status, note_add
from integrations import outbox
from integrations.models import OutboxMessage, SlackMessage
from integrations.tests.conftest import CHANNEL

pytestmark = pytest.mark.django_db

S = OutboxMessage.Status


def rows(kind: str | None = None):
    qs = OutboxMessage.objects.order_by("id")
    return list(qs.filter(kind=kind) if kind else qs)


def change(capture, fn, **kwargs):
    with capture(execute=True):
        with transaction.atomic():
            return fn(**kwargs)


def test_backoff_doubles_and_is_capped():
    assert [outbox.backoff_delay(n).total_seconds() for n in (1, 2, 3, 4, 8, 20)] == [5, 10, 20, 40, 600, 600]
    now = timezone.now()
    assert outbox.next_attempt_at(attempts=3, now=now) == now + timedelta(seconds=20)
    assert outbox.next_attempt_at(attempts=3, now=now, retry_after=120) == now + timedelta(seconds=120)


def test_a_5xx_is_retried_with_backoff_until_it_goes_through(slack, open_incident):
    slack.fail_next(2, status=503, path_contains="chat.postMessage")
    incident = open_incident()
    [post] = rows()
    assert (post.status, post.attempts, post.last_status, post.maybe_sent) == (S.PENDING, 1, 503, True)
    assert "Slack said HTTP 503" in post.last_error
    first_retry = post.next_attempt_at
    assert outbox.outbox_deliver_due(now=first_retry - timedelta(seconds=1)) == 0  # not before its time
    assert outbox.outbox_deliver_due(now=first_retry) == 0  # second 503
    post.refresh_from_db()
    assert post.attempts == 2 and post.next_attempt_at == first_retry + timedelta(seconds=10)
    assert outbox.outbox_deliver_due(now=post.next_attempt_at) == 1
    post.refresh_from_db()
    assert post.status == S.DELIVERED and post.last_error == ""
    assert len(slack.top_messages(CHANNEL)) == 1
    assert SlackMessage.objects.get(incident=incident).ts == post.remote_id


def test_a_429_waits_for_retry_after(slack, pagerduty, open_incident):
    slack.rate_limit_next(1, retry_after=42, path_contains="chat.postMessage")
    pagerduty.rate_limit_next(1, retry_after=17, path_contains="/v2/enqueue")
    before = timezone.now()
    open_incident()
    after = timezone.now()
    post, trigger = rows("slack.post")[0], rows("pagerduty.event")[0]
    assert before + timedelta(seconds=42) <= post.next_attempt_at <= after + timedelta(seconds=42)
    assert before + timedelta(seconds=17) <= trigger.next_attempt_at <= after + timedelta(seconds=17)
    assert not post.maybe_sent and post.last_status == 429 and "ratelimited" in post.last_error
    assert rows("pagerduty.note")[0].status == S.PENDING  # waits behind its trigger
    outbox.outbox_deliver_due(now=trigger.next_attempt_at - timedelta(milliseconds=1))
    assert len(pagerduty.events()) == 0
    outbox.outbox_deliver_due(now=trigger.next_attempt_at)
    assert [e["event_action"] for e in pagerduty.events()] == ["trigger"]
    assert slack.posts() == []
    outbox.outbox_deliver_due(now=post.next_attempt_at)
    assert len(slack.posts()) == 1
    assert {m.status for m in rows()} == {S.DELIVERED}


def test_a_refusal_is_not_retried_and_the_reason_is_kept(settings, slack, pagerduty, open_incident, caplog):
    settings.SLACK_CHANNEL = "C0NOSUCH00"
    settings.PAGERDUTY_ROUTING_KEY = "too-short"
    with caplog.at_level(logging.WARNING, logger="integrations.outbox"):
        open_incident()
    post, trigger = rows("slack.post")[0], rows("pagerduty.event")[0]
    assert (post.status, post.attempts, post.last_error) == (S.FAILED, 1, "Slack said channel_not_found")
    assert trigger.status == S.FAILED and trigger.last_status == 400
    assert "'routing_key' is invalid: it must be 32 characters" in trigger.last_error
    assert "refused, not retried: Slack said channel_not_found" in caplog.text
    note = rows("pagerduty.note")[0]  # no alert, so nothing to add a note to
    assert note.status == S.FAILED and "its trigger was not accepted" in note.last_error
    calls = len(slack.calls) + len(pagerduty.calls)
    outbox.outbox_deliver_due(now=timezone.now() + timedelta(days=1))
    assert len(slack.calls) + len(pagerduty.calls) == calls


def test_bad_credentials_are_not_retried(settings, slack, open_incident):
    settings.SLACK_BOT_TOKEN = "xoxb-revoked"
    open_incident()
    [post] = rows()
    assert post.status == S.FAILED and post.last_error == "Slack said invalid_auth"


def test_a_post_that_landed_before_the_connection_dropped_is_not_posted_again(slack, open_incident, django_capture_on_commit_callbacks):
    slack.drop_after_acting_next(1, path_contains="chat.postMessage")
    incident = open_incident()
    [post] = rows()
    assert post.status == S.PENDING and post.maybe_sent
    assert len(slack.top_messages(CHANNEL)) == 1  # Slack has it; Cleara could not tell
    outbox.outbox_deliver_due(now=post.next_attempt_at)
    post.refresh_from_db()
    [message] = slack.top_messages(CHANNEL)
    assert post.status == S.DELIVERED and post.remote_id == message["ts"]
    assert len(slack.calls_to("/chat.postMessage")) == 1 and len(slack.calls_to("/conversations.history")) == 1
    # …and later changes update that very message.
    change(django_capture_on_commit_callbacks, incident_set_status, incident=incident, status=Incident.Status.INVESTIGATING)
    assert slack.message(CHANNEL, message["ts"]).get("edited")
    assert SlackMessage.objects.get(incident=incident).ts == message["ts"]


def test_a_thread_reply_that_landed_is_not_posted_again(slack, open_incident, django_capture_on_commit_callbacks):
    incident = open_incident()
    slack.drop_after_acting_next(1, path_contains="chat.postMessage")
    change(django_capture_on_commit_callbacks, incident_set_status, incident=incident, status=Incident.Status.INVESTIGATING)
    [thread] = rows("slack.thread")
    assert thread.status == S.PENDING
    outbox.outbox_deliver_due(now=thread.next_attempt_at)
    parent = SlackMessage.objects.get(incident=incident)
    assert len(slack.thread(CHANNEL, parent.ts)) == 1
    assert len(slack.calls_to("/conversations.replies")) == 1


def test_a_pagerduty_note_that_landed_is_not_added_again(slack, pagerduty, open_incident):
    pagerduty.drop_after_acting_next(1, path_contains="/notes")
    incident = open_incident()
    [note] = rows("pagerduty.note")
    assert note.status == S.PENDING and note.maybe_sent
    outbox.outbox_deliver_due(now=note.next_attempt_at)
    note.refresh_from_db()
    pd_incident = pagerduty.incident_for(f"cleara-INC-{incident.number}")
    [stored] = pagerduty.notes[pd_incident["id"]]
    assert note.status == S.DELIVERED and note.remote_id == stored["id"]
    assert [c.method for c in pagerduty.calls_to("/notes")] == ["POST", "GET"]


def test_connection_refused_is_retried_without_asking_whether_it_landed(slack, open_incident):
    slack.down()
    open_incident()
    [post] = rows()
    assert post.status == S.PENDING and not post.maybe_sent and "unreachable" in post.last_error
    slack.up()
    outbox.outbox_deliver_due(now=post.next_attempt_at)
    post.refresh_from_db()
    assert post.status == S.DELIVERED
    assert not slack.calls_to("/conversations.history")


def test_a_stream_goes_out_in_order_and_waits_for_its_head(slack, pagerduty, open_incident, django_capture_on_commit_callbacks):
    slack.fail_next(1, status=500, path_contains="chat.postMessage")
    pagerduty.fail_next(1, status=502, path_contains="/v2/enqueue")
    incident = open_incident()
    change(django_capture_on_commit_callbacks, incident_set_status, incident=incident, status=Incident.Status.INVESTIGATING)
    change(django_capture_on_commit_callbacks, note_add, incident=incident, body="DB failover started")
    assert slack.posts() == [] and pagerduty.events() == []  # nothing overtook the failed heads
    outbox.outbox_deliver_due(now=timezone.now() + timedelta(minutes=1))
    posts = slack.posts()
    assert posts[0].get("blocks") and not posts[0].get("thread_ts")
    assert [p["text"] for p in posts[1:]] == [
        ":mag: Status: open → *investigating* (Console)",
        ":memo: Note from someone (Console):\nDB failover started",
    ]
    assert [e["event_action"] for e in pagerduty.events()] == ["trigger", "acknowledge"]
    assert {m.status for m in rows()} <= {S.DELIVERED, S.SUPERSEDED}


def test_a_waiting_refresh_absorbs_later_changes(slack, open_incident, django_capture_on_commit_callbacks):
    incident = open_incident()
    slack.fail_next(1, status=503, path_contains="chat.update")
    change(django_capture_on_commit_callbacks, incident_set_status, incident=incident, status=Incident.Status.INVESTIGATING)
    change(django_capture_on_commit_callbacks, incident_set_status, incident=incident, status=Incident.Status.OPEN)
    [update] = rows("slack.update")  # the waiting refresh renders the incident when it goes out
    outbox.outbox_deliver_due(now=update.next_attempt_at)
    update.refresh_from_db()
    assert update.status == S.DELIVERED
    message = slack.message(CHANNEL, SlackMessage.objects.get(incident=incident).ts)
    assert ":rotating_light: Open" in str(message["blocks"])


def test_a_refresh_made_pointless_by_a_later_one_is_skipped(slack, open_incident, django_capture_on_commit_callbacks):
    incident = open_incident()
    slack.down()
    change(django_capture_on_commit_callbacks, incident_set_status, incident=incident, status=Incident.Status.INVESTIGATING)
    [first] = rows("slack.update")
    # As if a worker were sending it right now: the next change cannot count on it and adds its own.
    OutboxMessage.objects.filter(pk=first.pk).update(claimed_until=timezone.now() + timedelta(seconds=30))
    change(django_capture_on_commit_callbacks, incident_set_status, incident=incident, status=Incident.Status.RESOLVED)
    assert len(rows("slack.update")) == 2
    slack.up()
    outbox.outbox_deliver_due(now=timezone.now() + timedelta(minutes=1))
    assert [u.status for u in rows("slack.update")] == [S.SUPERSEDED, S.DELIVERED]
    assert len(slack.calls_to("/chat.update")) == 1
    message = slack.message(CHANNEL, SlackMessage.objects.get(incident=incident).ts)
    assert "(Resolved)" in message["blocks"][0]["text"]["text"]


def test_a_claimed_message_is_left_alone_until_its_lease_ends(slack, open_incident):
    slack.down()
    open_incident()
    slack.up()
    [post] = rows()
    now = post.next_attempt_at
    OutboxMessage.objects.filter(pk=post.pk).update(claimed_until=now + timedelta(seconds=30), maybe_sent=False)
    assert outbox.outbox_deliver_due(now=now) == 0 and slack.posts() == []
    # The worker holding it died: after the lease the message is delivered, checking Slack first.
    assert outbox.outbox_deliver_due(now=now + timedelta(seconds=31)) == 1
    assert len(slack.calls_to("/conversations.history")) == 1 and len(slack.posts()) == 1


def test_an_answer_whose_fate_is_unclear_is_not_sent_twice(slack, make_incident, oncall, django_capture_on_commit_callbacks):
    from django.test import Client

    from integrations.tests.conftest import slack_signature, slash_command_body

    make_incident(number=31)
    slack.drop_after_acting_next(1, path_contains="/actions/")
    body = slash_command_body("incident 31", response_url=slack.response_url())
    with django_capture_on_commit_callbacks(execute=True):
        Client().post("/slack/events", body, content_type="application/x-www-form-urlencoded", **slack_signature(body))
    [answer] = rows("slack.respond")
    outbox.outbox_deliver_due(now=answer.next_attempt_at)
    answer.refresh_from_db()
    assert answer.status == S.FAILED and answer.last_error.startswith("not retried: an earlier attempt may have been delivered")
    assert len(slack.calls_to("/abc")) == 1


def test_a_worker_comes_back_for_a_retry_and_a_sweep_catches_the_rest(slack, open_incident):
    from django_q.models import Schedule

    from integrations.tasks import deliver_due_outbox

    slack.fail_next(1, status=503)
    incident = open_incident()
    [post] = rows()
    [retry] = Schedule.objects.filter(func="integrations.tasks.deliver_stream")
    assert retry.schedule_type == Schedule.ONCE and retry.next_run == post.next_attempt_at
    assert retry.args == repr(("slack", "", incident.pk))
    OutboxMessage.objects.filter(pk=post.pk).update(next_attempt_at=timezone.now())
    assert deliver_due_outbox() == 1 and len(slack.posts()) == 1
