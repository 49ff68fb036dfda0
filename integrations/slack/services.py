"""Slack: where incidents are posted, how each outbox message kind is delivered, and what the
buttons and /cleara do.

Outgoing (through the outbox): an incident opens → `slack.post` (the Block Kit message, whose
channel and ts are kept in SlackMessage); later changes → `slack.update` (chat.update, rendered
from the incident as it is at delivery time) and `slack.thread` (a line in the message's thread,
written when the change happened). Answers to people → `slack.respond` (their response_url).

Incoming: Bolt verifies the signature and acknowledges; the listeners here store the raw request
and queue `integrations.tasks.process_slack_interaction`, which maps the Slack user to a Cleara
user and makes the change as them, with origin "slack".
"""
from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from incidents import services as incident_services
from incidents.errors import IncidentError
from incidents.hooks import IncidentChange
from incidents.models import Incident, TimelineEvent
from integrations import errors, outbox
from integrations.facts import incident_facts
from integrations.models import InboundPayload, OutboxMessage, SlackInstallation, SlackMessage, SlackUserLink
from integrations.slack import blocks
from integrations.slack.client import BoltConfig, SlackBolt, SlackClient, respond
from integrations.slack.stores import DjangoInstallationStore, DjangoOAuthStateStore

log = logging.getLogger(__name__)

PROVIDER = OutboxMessage.Provider.SLACK
POST, UPDATE, THREAD, RESPOND, TEST = "slack.post", "slack.update", "slack.thread", "slack.respond", "slack.test"
MAX_LISTED = 20
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


outbox.kind_register(POST, outbox.Kind(deliver=_incident_post, verify=_incident_post_verify))
outbox.kind_register(UPDATE, outbox.Kind(deliver=_incident_update, verify=_incident_post_verify))
outbox.kind_register(THREAD, outbox.Kind(deliver=_thread_post, verify=_thread_verify))
# An answer through response_url cannot be looked up afterwards: after an unclear failure it is
# dropped (and shown as failed) rather than risk saying it twice.
outbox.kind_register(RESPOND, outbox.Kind(deliver=_respond, retry_when_unsure=False))
outbox.kind_register(TEST, outbox.Kind(deliver=_test_post, verify=_test_verify))


def slack_test_enqueue() -> int:
    destinations = slack_destinations()
    for destination in destinations:
        outbox.outbox_enqueue(provider=PROVIDER, kind=TEST, target=destination.target, payload={"channel": destination.channel})
    return len(destinations)


# --- incoming: Bolt's listeners and the task they queue ----------------------------------------


def _accept(body: dict, kind: str) -> None:
    record = InboundPayload.objects.create(source="slack", body={"kind": kind, **body})
    transaction.on_commit(lambda: _process_later(record.pk), robust=True)


def _process_later(payload_id: int) -> None:
    from django_q.tasks import async_task

    async_task("integrations.tasks.process_slack_interaction", payload_id, task_name=f"slack interaction {payload_id}")


def slack_command_accept(body: dict) -> str | None:
    """A verified /cleara: help is answered at once, everything else in a task."""
    text = body.get("text") or ""
    verb, _ = command_parse(text)
    if verb == "help":
        return help_text(text)
    _accept(body, "command")
    return None


def slack_action_accept(body: dict) -> str | None:
    actions = body.get("actions") or []
    if not actions or actions[0].get("action_id") == blocks.ACTION_OPEN:
        return None  # a link button: Slack opens the URL, there is nothing to do
    _accept(body, "action")
    return None


@functools.lru_cache(maxsize=8)
def _bolt(config: BoltConfig) -> SlackBolt:
    return SlackBolt(
        config=config,
        installation_store=DjangoInstallationStore(client_id=config.client_id),
        state_store=DjangoOAuthStateStore(),
        on_command=slack_command_accept,
        on_action=slack_action_accept,
    )


def slack_bolt() -> SlackBolt | None:
    """The Bolt app for the current settings (None when Slack's signing secret is not set)."""
    if not settings.SLACK_SIGNING_SECRET:
        return None
    base = settings.CLEARA_BASE_URL.rstrip("/")
    return _bolt(
        BoltConfig(
            signing_secret=settings.SLACK_SIGNING_SECRET,
            bot_token=settings.SLACK_BOT_TOKEN,
            client_id=settings.SLACK_CLIENT_ID,
            client_secret=settings.SLACK_CLIENT_SECRET,
            api_url=settings.SLACK_API_URL,
            redirect_uri=f"{base}/slack/oauth_redirect",
            success_url=f"{base}/integrations/",
        )
    )


def help_text(text: str = "") -> str:
    known = text.strip().split()[:1] in ([], ["help"])
    return blocks.HELP_TEXT if known else f"I don't know `{blocks.escape(text.strip())}`.\n{blocks.HELP_TEXT}"


COMMANDS = {"incidents", "incident", "ack", "acknowledge", "investigate", "resolve", "help"}


def command_parse(text: str) -> tuple[str, int | None]:
    """`/cleara ack 42` → ("ack", 42); unknown words → ("help", None)."""
    words = text.strip().split()
    if not words:
        return "help", None
    verb = words[0].lower()
    verb = "ack" if verb == "acknowledge" else verb
    if verb not in COMMANDS:
        return "help", None
    number = blocks.incident_ref_parse(words[1]) if len(words) > 1 else None
    return verb, number


class SlackUserUnknown(Exception):
    pass


def slack_user_resolve(*, team_id: str, slack_user_id: str):
    """The Cleara user behind a Slack user: an explicit link, else the same e-mail (users.info)."""
    link = SlackUserLink.objects.filter(team_id=team_id, slack_user_id=slack_user_id).select_related("user").first()
    if link is not None:
        return link.user
    try:
        email = slack_client(team_id).user_email(user_id=slack_user_id)
    except errors.IntegrationError as exc:
        raise SlackUserUnknown(f"I could not look up your Slack profile ({exc.reason}); try again in a moment.") from exc
    user = get_user_model().objects.filter(email__iexact=email, is_active=True).order_by("id").first() if email else None
    if user is None:
        raise SlackUserUnknown(
            "I could not match your Slack account to a Cleara user: "
            + (f"no Cleara user has the e-mail {email}." if email else "your Slack profile shows no e-mail.")
            + " Ask an admin to link your account."
        )
    SlackUserLink.objects.get_or_create(team_id=team_id, slack_user_id=slack_user_id, defaults={"user": user, "source": SlackUserLink.Source.EMAIL})
    return user


@dataclass(frozen=True)
class Interaction:
    verb: str
    number: int | None
    team_id: str
    user_id: str
    response_url: str


ACTION_VERBS = {blocks.ACTION_ACKNOWLEDGE: "ack", blocks.ACTION_INVESTIGATE: "investigate", blocks.ACTION_RESOLVE: "resolve"}


def interaction_parse(body: dict) -> Interaction:
    if body.get("kind") == "action":
        action = (body.get("actions") or [{}])[0]
        user = body.get("user") or {}
        return Interaction(
            verb=ACTION_VERBS.get(action.get("action_id"), "help"),
            number=blocks.incident_ref_parse(action.get("value") or ""),
            team_id=(body.get("team") or {}).get("id") or user.get("team_id") or "",
            user_id=user.get("id") or "",
            response_url=body.get("response_url") or "",
        )
    verb, number = command_parse(body.get("text") or "")
    return Interaction(
        verb=verb, number=number, team_id=body.get("team_id") or "", user_id=body.get("user_id") or "",
        response_url=body.get("response_url") or "",
    )


def _change(interaction: Interaction, incident: Incident, user) -> str:
    origin = TimelineEvent.Origin.SLACK
    if interaction.verb == "ack":
        incident_services.incident_set_status(incident=incident, status=Incident.Status.INVESTIGATING, by=user, origin=origin)
        return f":eyes: You acknowledged incident #{incident.number}: it is now investigating."
    if interaction.verb == "investigate":
        incident_services.incident_assign(incident=incident, assignee=user, by=user, origin=origin)
        incident_services.incident_set_status(incident=incident, status=Incident.Status.INVESTIGATING, by=user, origin=origin)
        return f":mag: Incident #{incident.number} is assigned to you and investigating."
    incident_services.incident_resolve(incident=incident, by=user, origin=origin)
    return f":white_check_mark: You resolved incident #{incident.number}."


CHANGES = {"ack", "investigate", "resolve"}


def _answer(interaction: Interaction, *, user, user_problem: str) -> tuple[dict, Incident | None]:
    """Do what the interaction asks; return the reply and the incident it concerned."""
    if interaction.verb == "help":
        return blocks.help_message(), None
    if interaction.verb == "incidents":
        open_incidents = Incident.objects.filter(status__in=Incident.OPEN_STATUSES).select_related("root_cause_service", "assignee").order_by("-started_at", "-id")
        total = open_incidents.count()
        return blocks.incident_list_message([incident_facts(i) for i in open_incidents[:MAX_LISTED]], more=max(0, total - MAX_LISTED)), None
    if interaction.number is None:
        return blocks.text_message(f"Which incident? Try `/cleara {interaction.verb} 42`."), None
    incident = Incident.objects.filter(number=interaction.number).first()
    if incident is None:
        return blocks.text_message(f"There is no incident #{interaction.number}."), None
    if interaction.verb == "incident":
        return blocks.incident_message(incident_facts(incident)), incident
    if user is None:
        return blocks.text_message(f":warning: {user_problem}"), incident
    try:
        with transaction.atomic():
            return blocks.text_message(_change(interaction, incident, user)), incident
    except IncidentError as exc:
        return blocks.text_message(f":warning: {exc}"), incident


def slack_interaction_process(*, payload_id: int) -> str:
    """Run a stored /cleara command or button click and answer through its response_url.

    The Slack user is looked up first (users.info is an HTTP call: not inside the transaction);
    then the change, the answer and the request's "processed" mark commit together, so a task
    that runs twice does the work once."""
    record = InboundPayload.objects.get(pk=payload_id, source="slack")
    if record.status != InboundPayload.Status.RECEIVED:
        return record.status
    interaction = interaction_parse(record.body)
    user, user_problem = None, ""
    if interaction.verb in CHANGES and interaction.number is not None:
        try:
            user = slack_user_resolve(team_id=interaction.team_id, slack_user_id=interaction.user_id)
        except SlackUserUnknown as exc:
            user_problem = str(exc)
    with transaction.atomic():
        locked = InboundPayload.objects.select_for_update().get(pk=record.pk)
        if locked.status != InboundPayload.Status.RECEIVED:
            return locked.status
        reply, incident = _answer(interaction, user=user, user_problem=user_problem)
        if interaction.response_url:
            # Answers are a stream of their own: an answer never waits behind the incident's messages.
            outbox.outbox_enqueue(
                provider=PROVIDER, kind=RESPOND, incident=incident, target=f"{interaction.team_id}/response_url",
                payload={"response_url": interaction.response_url, "body": {"response_type": "ephemeral", "replace_original": False, **reply}},
            )
        InboundPayload.objects.filter(pk=record.pk).update(status=InboundPayload.Status.PROCESSED, processed_at=timezone.now())
    return interaction.verb
