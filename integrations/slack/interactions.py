"""Slack, incoming: Bolt verifies the signature and acknowledges; the listeners here store the raw
request and queue `integrations.tasks.process_slack_interaction`, which maps the Slack user to a
Cleara user and makes the change as them, with origin "slack" (/cleara and the buttons).

A Slack user acts with the role of the Cleara user they map to (access.roles, the same check as the
console); an unmapped Slack user changes nothing. Either refusal is the ephemeral answer, and every
change or refused change is in the audit log (via "slack", actor "slack:UID as USER")."""
from __future__ import annotations

import functools
import logging
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from access import audit
from access.roles import AccessDenied, Action, check
from incidents import services as incident_services
from incidents.errors import IncidentError
from incidents.models import Incident, TimelineEvent
from integrations import errors, outbox
from integrations.facts import incident_facts
from integrations.models import InboundPayload, SlackUserLink
from integrations.slack import blocks
from integrations.slack.notifier import PROVIDER, RESPOND, slack_client
from integrations.slack.client import BoltConfig, SlackBolt
from integrations.slack.stores import DjangoInstallationStore, DjangoOAuthStateStore

log = logging.getLogger(__name__)

MAX_LISTED = 20


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


# What each verb needs of the Cleara user's role.
VERB_ACTIONS: dict[str, tuple[Action, ...]] = {"ack": (Action.STATUS,), "investigate": (Action.ASSIGN, Action.STATUS), "resolve": (Action.RESOLVE,)}


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
        _audit(interaction, incident, user=None, allowed=False, outcome=user_problem)
        return blocks.text_message(f":warning: {user_problem}"), incident
    try:
        for action in VERB_ACTIONS[interaction.verb]:
            check(action, user=user)
    except AccessDenied as exc:
        _audit(interaction, incident, user=user, allowed=False, outcome=exc.message)
        return blocks.text_message(f":no_entry: As Cleara user {user.get_username()}, {exc.message[0].lower()}{exc.message[1:]}."), incident
    try:
        with transaction.atomic():
            answer = _change(interaction, incident, user)
    except IncidentError as exc:
        return blocks.text_message(f":warning: {exc}"), incident
    _audit(interaction, incident, user=user, allowed=True, outcome="done")
    return blocks.text_message(answer), incident


def _audit(interaction: Interaction, incident: Incident, *, user, allowed: bool, outcome: str) -> None:
    who = f"slack:{interaction.user_id}" + (f" as {user.get_username()}" if user is not None else " (no Cleara user)")
    audit.record(actor=user, actor_label=who, via="slack", action=f"slack:{interaction.verb}", target=f"incident {incident.number}",
                 allowed=allowed, details={"team": interaction.team_id, "outcome": outcome[:200]})


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
