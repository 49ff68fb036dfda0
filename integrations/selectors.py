"""Reads for the integrations page: each integration's state, the last deliveries and failures."""
from __future__ import annotations

from dataclasses import dataclass, field

from django.conf import settings
from django.db.models import Count, QuerySet

from integrations.models import InboundPayload, OutboxMessage, SlackInstallation


@dataclass(frozen=True)
class IntegrationState:
    name: str
    slug: str
    configured: bool
    details: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)


def _counts(provider: str) -> dict[str, int]:
    rows = OutboxMessage.objects.filter(provider=provider).order_by().values_list("status").annotate(n=Count("id"))
    return {status: n for status, n in rows}


def integration_states() -> list[IntegrationState]:
    installs = list(SlackInstallation.objects.filter(client_id=settings.SLACK_CLIENT_ID).exclude(team_id="").values_list("team_name", "team_id").distinct())
    slack_details, slack_missing = [], []
    if settings.SLACK_BOT_TOKEN:
        slack_details.append(f"bot token set; posts to {settings.SLACK_CHANNEL or '(no SLACK_CHANNEL)'}")
    if settings.SLACK_OAUTH_ENABLED:
        slack_details.append(f"OAuth install on /slack/install; {len(installs)} workspace(s) installed" + (": " + ", ".join(n or t for n, t in installs) if installs else ""))
    slack_details.append("slash command and buttons: " + ("on (/slack/events)" if settings.SLACK_SIGNING_SECRET else "off"))
    if not settings.SLACK_SIGNING_SECRET:
        slack_missing.append("SLACK_SIGNING_SECRET")
    if not settings.SLACK_ENABLED:
        slack_missing.append("SLACK_BOT_TOKEN (or SLACK_CLIENT_ID and SLACK_CLIENT_SECRET)")
    elif settings.SLACK_BOT_TOKEN and not settings.SLACK_CHANNEL:
        slack_missing.append("SLACK_CHANNEL")

    pd_details, pd_missing = [], []
    if settings.PAGERDUTY_ENABLED:
        pd_details.append(f"Events API v2 at {settings.PAGERDUTY_EVENTS_URL}; pages from severity {settings.PAGERDUTY_MIN_SEVERITY}")
    else:
        pd_missing.append("PAGERDUTY_ROUTING_KEY")
    if settings.PAGERDUTY_API_ENABLED:
        pd_details.append(f"root-cause notes through the REST API as {settings.PAGERDUTY_FROM_EMAIL}")
    else:
        pd_missing.append("PAGERDUTY_API_TOKEN and PAGERDUTY_FROM_EMAIL (for notes)")
    if settings.PAGERDUTY_WEBHOOK_SECRET:
        pd_details.append(f"webhooks v3 in at /api/v1/integrations/pagerduty/webhook ({len(settings.PAGERDUTY_WEBHOOK_SECRET)} secret(s))")
    else:
        pd_missing.append("PAGERDUTY_WEBHOOK_SECRET (for status sync back)")
    return [
        IntegrationState("Slack", "slack", settings.SLACK_ENABLED, slack_details, slack_missing, _counts(OutboxMessage.Provider.SLACK)),
        IntegrationState("PagerDuty", "pagerduty", settings.PAGERDUTY_ENABLED, pd_details, pd_missing, _counts(OutboxMessage.Provider.PAGERDUTY)),
    ]


def outbox_recent(*, limit: int = 25) -> QuerySet[OutboxMessage]:
    return OutboxMessage.objects.select_related("incident").order_by("-created_at", "-id")[:limit]


def outbox_failures(*, limit: int = 25) -> QuerySet[OutboxMessage]:
    """Refused messages, and those still waiting for a retry after an error."""
    return (
        OutboxMessage.objects.select_related("incident")
        .exclude(last_error="").exclude(status__in=[OutboxMessage.Status.DELIVERED, OutboxMessage.Status.SUPERSEDED])
        .order_by("-created_at", "-id")[:limit]
    )


def inbound_recent(*, limit: int = 10) -> QuerySet[InboundPayload]:
    return InboundPayload.objects.filter(source__in=["slack", "pagerduty"]).order_by("-received_at", "-id")[:limit]
