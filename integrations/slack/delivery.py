"""Slack, delivery: how each outbox kind of Slack message is sent, and checked after an unclear
failure; `kinds_register` is called from IntegrationsConfig.ready()."""
from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings

from incidents.models import Incident
from integrations import errors, outbox
from integrations.facts import incident_facts
from integrations.models import OutboxMessage, SlackMessage
from integrations.slack import blocks
from integrations.slack.notifier import POST, PROVIDER, RESPOND, TEST, THREAD, UPDATE, slack_client
from integrations.slack.client import respond

log = logging.getLogger(__name__)


# --- delivery of each kind (called by the outbox) ----------------------------------------------


def _slack_message(message: OutboxMessage) -> SlackMessage | None:
    return SlackMessage.objects.filter(incident_id=message.incident_id, team_id=message.target).first()


def _incident_post(message: OutboxMessage) -> str:
    existing = _slack_message(message)
    if existing is not None:
        return existing.ts  # already posted (an earlier post or an update that fell back to one)
    incident = Incident.objects.get(pk=message.incident_id)
    content = blocks.incident_message(incident_facts(incident))
    posted = slack_client(message.target).post_message(channel=message.payload["channel"], key=message.key, **content)
    SlackMessage.objects.create(incident=incident, team_id=message.target, channel=posted["channel"], ts=posted["ts"])
    return posted["ts"]


def _incident_post_verify(message: OutboxMessage) -> str | None:
    """After an unclear failure: did the post land? If so, remember it instead of posting again."""
    existing = _slack_message(message)
    if existing is not None:
        return existing.ts if message.kind == POST else None
    channel = message.payload["channel"]
    oldest = (message.created_at - timedelta(minutes=1)).timestamp()
    ts = slack_client(message.target).find_message(channel=channel, key=message.key, oldest=oldest)
    if ts is not None:
        SlackMessage.objects.get_or_create(incident_id=message.incident_id, team_id=message.target, defaults={"channel": channel, "ts": ts})
    return ts


def _incident_update(message: OutboxMessage) -> str:
    existing = _slack_message(message)
    if existing is None:
        return _incident_post(message)  # no message yet (Slack was set up later, or the post failed)
    if outbox.outbox_pending_later(provider=PROVIDER, target=message.target, incident_id=message.incident_id, kind=UPDATE, after_id=message.pk):
        raise outbox.Superseded("a later refresh of the same message is waiting")
    incident = Incident.objects.get(pk=message.incident_id)
    slack_client(message.target).update_message(channel=existing.channel, ts=existing.ts, **blocks.incident_message(incident_facts(incident)))
    existing.save(update_fields=["updated_at"])
    return existing.ts


def _thread_post(message: OutboxMessage) -> str:
    parent = _slack_message(message)
    if parent is None:
        raise errors.IntegrationRejected("there is no Slack message of this incident to reply to (its post failed)")
    posted = slack_client(message.target).post_message(channel=parent.channel, thread_ts=parent.ts, text=message.payload["text"], key=message.key)
    return posted["ts"]


def _thread_verify(message: OutboxMessage) -> str | None:
    parent = _slack_message(message)
    if parent is None:
        return None
    return slack_client(message.target).find_message(channel=parent.channel, thread_ts=parent.ts, key=message.key)


def _respond(message: OutboxMessage) -> str:
    respond(response_url=message.payload["response_url"], body=message.payload["body"])
    return ""


def _test_post(message: OutboxMessage) -> str:
    content = blocks.test_message(base_url=settings.CLEARA_BASE_URL.rstrip("/"))
    return slack_client(message.target).post_message(channel=message.payload["channel"], key=message.key, **content)["ts"]


def _test_verify(message: OutboxMessage) -> str | None:
    oldest = (message.created_at - timedelta(minutes=1)).timestamp()
    return slack_client(message.target).find_message(channel=message.payload["channel"], key=message.key, oldest=oldest)



def kinds_register() -> None:
    """Tell the outbox how to deliver each Slack kind (IntegrationsConfig.ready())."""
    outbox.kind_register(POST, outbox.Kind(deliver=_incident_post, verify=_incident_post_verify))
    outbox.kind_register(UPDATE, outbox.Kind(deliver=_incident_update, verify=_incident_post_verify))
    outbox.kind_register(THREAD, outbox.Kind(deliver=_thread_post, verify=_thread_verify))
    # An answer through response_url cannot be looked up afterwards: after an unclear failure it is
    # dropped (and shown as failed) rather than risk saying it twice.
    outbox.kind_register(RESPOND, outbox.Kind(deliver=_respond, retry_when_unsure=False))
    outbox.kind_register(TEST, outbox.Kind(deliver=_test_post, verify=_test_verify))
