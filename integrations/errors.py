"""Our errors for everything that talks to another system.

The provider clients (`integrations/<provider>/client.py`) turn the SDKs' exceptions into these, so
that the outbox decides what to do from the class alone:

- `IntegrationRejected`: the service refused the request itself (400, Slack's `ok: false`). Sending
  it again would be refused again: never retried, the reason is kept and shown.
- `IntegrationAuthError`: bad or revoked credentials. Not retried either; fix the settings.
- `IntegrationRateLimited`: 429; retried no earlier than `retry_after` seconds.
- `IntegrationUnavailable`: network errors and 5xx; retried with backoff. `maybe_sent` says whether
  the service may have acted on the request before failing (a timeout, a 5xx, a dropped
  connection), as opposed to never having seen it (connection refused): a retry of a
  non-idempotent call first checks whether the first attempt landed.
"""
from __future__ import annotations

from integrations.redact import redact

# Settings that hold secrets: their values are masked wherever they appear in a reason.
SECRET_SETTINGS = (
    "SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_CLIENT_SECRET", "PAGERDUTY_ROUTING_KEY",
    "PAGERDUTY_API_TOKEN", "PAGERDUTY_WEBHOOK_SECRET", "SECRET_KEY", "METRICS_TOKEN",
)


def shown(text: object) -> str:
    """What may be stored and shown of an upstream answer: secrets masked, at most 500 characters
    (integrations.redact). Every IntegrationError's reason goes through it."""
    from django.conf import settings

    secrets: list[str] = []
    for name in SECRET_SETTINGS:
        value = getattr(settings, name, "")
        secrets += value if isinstance(value, (list, tuple)) else [value]
    return redact(text, secrets=[s for s in secrets if isinstance(s, str)])


class IntegrationError(Exception):
    """Base class; `reason` is what a person reads on the integrations page."""

    retryable = False
    maybe_sent = False

    def __init__(self, reason: str, *, status: int | None = None):
        reason = shown(reason)
        super().__init__(reason)
        self.reason = reason
        self.status = status


class IntegrationRejected(IntegrationError):
    pass


class IntegrationAuthError(IntegrationError):
    pass


class IntegrationRateLimited(IntegrationError):
    retryable = True

    def __init__(self, reason: str, *, retry_after: float | None = None, status: int | None = 429):
        super().__init__(reason, status=status)
        self.retry_after = retry_after


class IntegrationUnavailable(IntegrationError):
    retryable = True

    def __init__(self, reason: str, *, status: int | None = None, maybe_sent: bool = True):
        super().__init__(reason, status=status)
        self.maybe_sent = maybe_sent


def retry_after_parse(value: str | None) -> float | None:
    """A Retry-After header in seconds (the delta-seconds form Slack and PagerDuty send)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None
