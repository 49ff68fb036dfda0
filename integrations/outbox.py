"""The outbox: every notification to Slack or PagerDuty is a row first, and a delivery second.

Rows are written in the transaction of the incident change they report (see notifiers.py), so a
change and its notifications commit or roll back together. After the commit a django-q2 task
delivers them. Delivery rules:

- Order: the messages of one stream (provider, target, incident) go out in id order: a Slack
  update never overtakes the post it updates, a PagerDuty resolve never overtakes its trigger. A
  message waiting for a retry holds back the rest of its stream, and only its stream.
- Retries: network errors and 5xx are retried with exponential backoff (`backoff_delay`), a 429 no
  earlier than its Retry-After; a retry time is data (`next_attempt_at`), so tests run the due
  deliveries at a chosen time instead of sleeping. Transient failures are retried without limit:
  an outage delays notifications and loses none.
- Refusals: a 400 (or Slack's `ok: false`) and bad credentials are never retried; the reason is
  logged and kept on the row, and the integrations page shows it.
- No double posts: a delivery claims its row (a lease, so a crashed worker lets go), and a retry
  after an unclear failure (timeout, 5xx, dropped connection) of a non-idempotent call first asks
  the service whether the first attempt landed (`Kind.verify`). Kinds whose outcome cannot be
  checked are not retried after an unclear failure (`Kind.retry_when_unsure=False`).
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from incidents.models import Incident
from integrations import errors
from integrations.models import OutboxMessage

log = logging.getLogger(__name__)

BACKOFF_BASE_SECONDS = 5
BACKOFF_CAP_SECONDS = 600
# Longer than any one delivery can take (two calls of at most 10 s each, plus slack).
def claim_seconds() -> int:
    """How long a delivery holds its row (OUTBOX_CLAIM_SECONDS): a worker killed mid-delivery lets
    go after this, and the next sweep delivers it, checking first whether it landed."""
    from django.conf import settings

    return settings.OUTBOX_CLAIM_SECONDS
STREAM_BATCH = 200


class Superseded(Exception):
    """A later message of the same stream makes this one pointless (e.g. two refreshes of one message)."""


@dataclass(frozen=True)
class Kind:
    """How to deliver one kind of message. `deliver` returns what the service gave back (a ts, a
    note id); `verify` returns it if an earlier, unclear attempt did land, else None."""

    deliver: Callable[[OutboxMessage], str]
    verify: Callable[[OutboxMessage], str | None] | None = None
    retry_when_unsure: bool = True


KINDS: dict[str, Kind] = {}


def kind_register(name: str, kind: Kind) -> None:
    KINDS[name] = kind


@dataclass(frozen=True)
class Stream:
    provider: str
    target: str
    incident_id: int | None

    def messages(self):
        return OutboxMessage.objects.filter(provider=self.provider, target=self.target, incident_id=self.incident_id)


def backoff_delay(attempts: int) -> timedelta:
    """5 s, 10 s, 20 s … capped at 10 minutes; `attempts` counts the failed attempts so far."""
    return timedelta(seconds=min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** max(0, attempts - 1)))


def next_attempt_at(*, attempts: int, now: datetime, retry_after: float | None = None) -> datetime:
    if retry_after is not None:
        return now + timedelta(seconds=retry_after)
    return now + backoff_delay(attempts)


def outbox_enqueue(
    *, provider: str, kind: str, incident: Incident | None = None, target: str = "", payload: dict | None = None, not_before: datetime | None = None
) -> OutboxMessage:
    """Write a message; call inside the transaction of the change. Delivery starts after commit
    (or at `not_before`)."""
    if kind not in KINDS:
        raise ValueError(f"unknown outbox kind {kind!r}")
    message = OutboxMessage.objects.create(
        provider=provider, kind=kind, target=target, incident=incident, payload=payload or {}, next_attempt_at=not_before or timezone.now()
    )
    stream = Stream(provider, target, incident.pk if incident else None)
    # robust: a broker that is down must not turn a committed change into an error; the periodic
    # sweep (deliver_due_outbox) picks the message up.
    transaction.on_commit(lambda: stream_kick(stream, at=not_before), robust=True)
    return message


def outbox_hasten(message: OutboxMessage) -> None:
    """Make a message that was written to go out later go out now (not one waiting for a retry)."""
    if message.attempts == 0 and message.next_attempt_at > timezone.now():
        OutboxMessage.objects.filter(pk=message.pk, attempts=0).update(next_attempt_at=timezone.now())
        stream = Stream(message.provider, message.target, message.incident_id)
        transaction.on_commit(lambda: stream_kick(stream), robust=True)


def stream_kick(stream: Stream, *, at: datetime | None = None) -> None:
    """Queue a delivery of the stream now, or at `at` (a one-off django-q2 schedule)."""
    from django_q.models import Schedule
    from django_q.tasks import async_task

    # Plain values: django-q2 keeps a schedule's args as their repr and reads them back with literal_eval.
    args = (str(stream.provider), str(stream.target), stream.incident_id)
    if at is None:
        async_task("integrations.tasks.deliver_stream", *args, task_name=f"outbox {stream.provider} {stream.target} {stream.incident_id}"[:100])
        return
    Schedule.objects.update_or_create(
        name=f"outbox-retry {stream.provider} {stream.target} {stream.incident_id}"[:100],
        defaults={
            "func": "integrations.tasks.deliver_stream",
            "args": repr(args),
            "schedule_type": Schedule.ONCE,
            "repeats": -1,
            "next_run": at,
        },
    )


def _claim_head(stream: Stream, *, now: datetime) -> OutboxMessage | None:
    """The stream's first pending message, claimed for this delivery, if it is due and free."""
    head = stream.messages().filter(status=OutboxMessage.Status.PENDING).order_by("id").first()
    if head is None or head.next_attempt_at > now or (head.claimed_until and head.claimed_until > now):
        return None
    # A lease that ran out means a worker died mid-call: the service may have the message.
    maybe_sent = head.maybe_sent or head.claimed_until is not None
    claimed = OutboxMessage.objects.filter(pk=head.pk, status=OutboxMessage.Status.PENDING).filter(
        Q(claimed_until__isnull=True) | Q(claimed_until__lte=now)
    ).update(claimed_until=now + timedelta(seconds=claim_seconds()), attempts=head.attempts + 1, maybe_sent=maybe_sent)
    if claimed != 1:
        return None
    head.claimed_until, head.attempts, head.maybe_sent = now + timedelta(seconds=claim_seconds()), head.attempts + 1, maybe_sent
    return head


def _finish(message: OutboxMessage, **fields) -> None:
    fields["claimed_until"] = None
    for name, value in fields.items():
        setattr(message, name, value)
    OutboxMessage.objects.filter(pk=message.pk).update(**fields)


def message_deliver(message: OutboxMessage, *, now: datetime) -> bool:
    """One attempt at a claimed message. True when the message is settled (delivered, failed,
    superseded), False when it waits for a retry."""
    kind = KINDS[message.kind]
    try:
        remote_id = None
        if message.maybe_sent and kind.verify is not None:
            remote_id = kind.verify(message)
        elif message.maybe_sent and not kind.retry_when_unsure:
            reason = f"not retried: an earlier attempt may have been delivered ({message.last_error or 'no answer'}) and {message.kind} cannot be checked"
            log.warning("outbox #%s %s: %s", message.pk, message.kind, reason)
            _finish(message, status=OutboxMessage.Status.FAILED, last_error=reason)
            return True
        if remote_id is None:
            remote_id = kind.deliver(message)
    except Superseded as exc:
        _finish(message, status=OutboxMessage.Status.SUPERSEDED, last_error=str(exc), delivered_at=now)
        return True
    except errors.IntegrationRateLimited as exc:
        at = next_attempt_at(attempts=message.attempts, now=now, retry_after=exc.retry_after)
        _finish(message, next_attempt_at=at, last_error=exc.reason, last_status=exc.status)
        log.info("outbox #%s %s rate-limited; next attempt at %s", message.pk, message.kind, at.isoformat())
        return False
    except errors.IntegrationUnavailable as exc:
        at = next_attempt_at(attempts=message.attempts, now=now)
        _finish(message, next_attempt_at=at, last_error=exc.reason, last_status=exc.status, maybe_sent=message.maybe_sent or exc.maybe_sent)
        log.info("outbox #%s %s failed (%s); attempt %d, next at %s", message.pk, message.kind, exc.reason, message.attempts, at.isoformat())
        return False
    except errors.IntegrationError as exc:
        log.warning("outbox #%s %s refused, not retried: %s", message.pk, message.kind, exc.reason)
        _finish(message, status=OutboxMessage.Status.FAILED, last_error=exc.reason, last_status=exc.status)
        return True
    except Exception as exc:  # a bug: retrying would fail the same way and hold the stream back
        log.exception("outbox #%s %s crashed", message.pk, message.kind)
        _finish(message, status=OutboxMessage.Status.FAILED, last_error=errors.shown(f"internal error: {exc!r}"))
        return True
    _finish(message, status=OutboxMessage.Status.DELIVERED, delivered_at=now, remote_id=str(remote_id or "")[:255], last_error="", maybe_sent=False)
    return True


def stream_deliver(*, provider: str, target: str, incident_id: int | None, now: datetime | None = None) -> int:
    """Deliver the stream's due messages in order; returns how many were settled. When one has to
    wait, a retry of the stream is scheduled for its time."""
    stream = Stream(provider, target, incident_id)
    settled = 0
    for _ in range(STREAM_BATCH):
        current = now or timezone.now()
        message = _claim_head(stream, now=current)
        if message is None:
            break
        if not message_deliver(message, now=current):
            message.refresh_from_db(fields=["next_attempt_at"])
            if now is None:  # a real clock: have a worker come back; tests call outbox_deliver_due
                stream_kick(stream, at=message.next_attempt_at)
            break
        settled += 1
    return settled


def outbox_deliver_due(*, now: datetime | None = None) -> int:
    """Deliver every stream whose first pending message is due (the periodic sweep, and tests)."""
    current = now or timezone.now()
    streams = (
        OutboxMessage.objects.filter(status=OutboxMessage.Status.PENDING, next_attempt_at__lte=current)
        .order_by().values_list("provider", "target", "incident_id").distinct()
    )
    return sum(stream_deliver(provider=p, target=t, incident_id=i, now=now) for p, t, i in list(streams))


def outbox_pending_later(*, provider: str, target: str, incident_id: int | None, kind: str, after_id: int) -> bool:
    return Stream(provider, target, incident_id).messages().filter(kind=kind, status=OutboxMessage.Status.PENDING, id__gt=after_id).exists()
