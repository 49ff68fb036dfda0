"""Slack, outgoing: where incidents are posted and what each change sends, as outbox rows written
inside the change's transaction (delivered later by integrations.slack.delivery).

An incident opens → `slack.post` (the Block Kit message, whose channel and ts are kept in
SlackMessage); later changes → `slack.update` (chat.update, rendered from the incident as it is at
delivery time) and `slack.thread` (a line in the message's thread, written when the change
happened). Answers to people → `slack.respond` (their response_url).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from incidents.hooks import IncidentChange
from incidents.models import Incident, TimelineEvent
from integrations import errors, outbox
from integrations.facts import incident_facts, split_facts
from integrations.models import OutboxMessage, SlackInstallation
from integrations.slack import blocks
from integrations.slack.client import SlackClient

log = logging.getLogger(__name__)

PROVIDER = OutboxMessage.Provider.SLACK
POST, UPDATE, THREAD, RESPOND, TEST = "slack.post", "slack.update", "slack.thread", "slack.respond", "slack.test"
# Chat.update is rate-limited (about 50 a minute per workspace): "more events joined" refreshes
# wait this long, so that a stream of event batches makes one update, not one per batch.
UPDATED_DELAY = 30
ORIGIN_LABEL = dict(TimelineEvent.Origin.choices)


# --- where messages go --------------------------------------------------------------------------


@dataclass(frozen=True)
class Destination:
    target: str  # "" = the SLACK_BOT_TOKEN workspace, else an installed workspace's team id
    token: str
    channel: str


def slack_destinations() -> list[Destination]:
    """Every workspace Cleara posts incidents to, with its token and channel."""
    if not settings.SLACK_ENABLED:
        return []
    found = []
    if settings.SLACK_BOT_TOKEN and settings.SLACK_CHANNEL:
        found.append(Destination("", settings.SLACK_BOT_TOKEN, settings.SLACK_CHANNEL))
    seen = set()
    for install in SlackInstallation.objects.filter(client_id=settings.SLACK_CLIENT_ID).exclude(bot_token="").order_by("-installed_at", "-id"):
        if install.team_id in seen or not install.team_id:
            continue
        seen.add(install.team_id)
        channel = install.incoming_webhook_channel_id or settings.SLACK_CHANNEL
        if channel:
            found.append(Destination(install.team_id, install.bot_token, channel))
    return found


def slack_token_for(target: str) -> str:
    if target:
        install = SlackInstallation.objects.filter(client_id=settings.SLACK_CLIENT_ID, team_id=target).exclude(bot_token="").order_by("-installed_at", "-id").first()
        if install is not None:
            return install.bot_token
    if settings.SLACK_BOT_TOKEN:
        return settings.SLACK_BOT_TOKEN
    raise errors.IntegrationAuthError(f"no Slack token for workspace {target or '(SLACK_BOT_TOKEN)'}: set SLACK_BOT_TOKEN or install the app")


def slack_client(target: str) -> SlackClient:
    return SlackClient(token=slack_token_for(target), base_url=settings.SLACK_API_URL)


# --- what a change sends (called by notifiers, inside the change's transaction) ----------------


def _latest_event(incident: Incident, kind: str) -> TimelineEvent | None:
    """The audit-trail row the change just wrote (the hook runs right after it, in its transaction)."""
    return incident.timeline.filter(kind=kind).select_related("actor").order_by("-created_at", "-id").first()


def _previous_value(change: IncidentChange, event: TimelineEvent | None) -> str:
    return change.data.get("from") or (event.from_value if event is not None else "")


def _waiting_update(incident: Incident, destination: Destination) -> OutboxMessage | None:
    return OutboxMessage.objects.filter(
        provider=PROVIDER, target=destination.target, incident=incident, kind=UPDATE,
        status=OutboxMessage.Status.PENDING, claimed_until__isnull=True,
    ).order_by("id").first()


def _update_enqueue(incident: Incident, destination: Destination, *, delay: int = 0) -> None:
    """Refresh the message, unless a refresh that has not started yet is already waiting: it renders
    the incident as it is when it goes out, so one is enough. A routine update (more events joined
    the incident) waits UPDATED_DELAY seconds, so that a burst of them makes one chat.update; any
    other change goes at once, and takes a waiting refresh along (nothing queues behind a delay)."""
    waiting = _waiting_update(incident, destination)
    if waiting is not None:
        if not delay:
            outbox.outbox_hasten(waiting)
        return
    not_before = timezone.now() + timedelta(seconds=delay) if delay else None
    outbox.outbox_enqueue(provider=PROVIDER, kind=UPDATE, incident=incident, target=destination.target, payload={"channel": destination.channel}, not_before=not_before)


def _thread_enqueue(incident: Incident, destination: Destination, text: str) -> None:
    outbox.outbox_enqueue(provider=PROVIDER, kind=THREAD, incident=incident, target=destination.target, payload={"channel": destination.channel, "text": text})


def thread_text_for(change: IncidentChange, incident: Incident) -> str | None:
    """The thread line that says what changed, or None when the change needs none."""
    where = ORIGIN_LABEL.get(change.origin, change.origin)
    if change.kind == "status":
        event = _latest_event(incident, TimelineEvent.Kind.STATUS)
        who = event.actor.get_username() if event is not None and event.actor_id else ""
        return blocks.status_line(previous=_previous_value(change, event), current=incident.status, who=who, where=where)
    if change.kind == "severity":
        event = _latest_event(incident, TimelineEvent.Kind.SEVERITY)
        return blocks.severity_line(previous=_previous_value(change, event), current=incident.severity)
    if change.kind == "root_cause":
        previous = _previous_value(change, _latest_event(incident, TimelineEvent.Kind.ROOT_CAUSE))
        current = incident_facts(incident).root_cause or ""
        if not current or previous == current:
            return None  # only the confidence moved: the refreshed message shows it
        return blocks.root_cause_line(previous=previous, current=current, confidence=incident.confidence)
    if change.kind == "note":
        note = incident.notes.filter(pk=change.data.get("note_id")).first()
        return blocks.note_line(author=note.author_name, body=note.body, where=where) if note else None
    if change.kind == "split":
        split = split_facts(incident, timeline_id=change.data.get("timeline_id"), number=change.data.get("split"))
        return blocks.split_line(message=split.message, number=split.number, url=split.url) if split else None
    return None


class SlackNotifier:
    provider = PROVIDER

    def enabled(self) -> bool:
        return settings.SLACK_ENABLED

    def incident_changed(self, change: IncidentChange, incident: Incident) -> None:
        destinations = slack_destinations()
        if not destinations:
            return
        # A change made in Slack only refreshes the message there: the person who made it gets
        # their answer through response_url, and Slack never echoes our own posts back.
        text = thread_text_for(change, incident) if change.kind != "opened" and change.origin != TimelineEvent.Origin.SLACK else None
        for destination in destinations:
            if change.kind == "opened":
                outbox.outbox_enqueue(provider=PROVIDER, kind=POST, incident=incident, target=destination.target, payload={"channel": destination.channel})
                continue
            if change.kind == "updated":
                _update_enqueue(incident, destination, delay=UPDATED_DELAY)
            elif change.kind != "note":
                _update_enqueue(incident, destination)
            elif (waiting := _waiting_update(incident, destination)) is not None:
                outbox.outbox_hasten(waiting)
            if text:
                _thread_enqueue(incident, destination, text)


def slack_test_enqueue() -> int:
    destinations = slack_destinations()
    for destination in destinations:
        outbox.outbox_enqueue(provider=PROVIDER, kind=TEST, target=destination.target, payload={"channel": destination.channel})
    return len(destinations)


