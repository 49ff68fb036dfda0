"""Event counts per hour (incidents.models.EventRollup): written at ingest, read by the stats.

Write: `rollups_add(events)` in the transaction that stores a batch, one
`INSERT ... ON CONFLICT (hour, service, type, severity, source) DO UPDATE SET count = count + excluded.count`
(PostgreSQL and SQLite >= 3.24 alike), its rows in key order so that two batches touching the same
keys lock them in the same order (no deadlock). A batch rolled back takes its counts with it.

Read: `event_counts` and `event_buckets` answer "how many events (of a type) between since and until"
from the rollups for every whole hour inside the range and from the events themselves only for
the partial hours at its two ends (at most two hours of rows, on the event_ts / event_type_ts
indexes): the answer is exact, and its cost depends on the hours in the range, not on the number
of events in them. Counting "all time" reads no event at all, and still counts the events that
retention dropped (rollups are kept).
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from django.db import connection
from django.db.models import Count, Sum
from django.db.models.functions import TruncDay, TruncHour, TruncMinute
from django.utils import timezone

from incidents.models import Event, EventRollup

HOUR = timedelta(hours=1)
UPSERT_CHUNK = 500  # rows per statement (6 parameters each: far below SQLite's limit)


def hour_of(ts: datetime) -> datetime:
    """The start of the UTC hour holding `ts`."""
    if timezone.is_naive(ts):
        ts = ts.replace(tzinfo=UTC)
    try:
        ts = ts.astimezone(UTC)
    except OverflowError:  # year 1 or 9999 with an offset: the nearest representable instant
        ts = (datetime.min if ts.year == 1 else datetime.max).replace(tzinfo=UTC)
    return ts.replace(minute=0, second=0, microsecond=0)


def rollups_add(events: Iterable[Event]) -> int:
    """Add the events to their hours' counts; returns the number of rollup rows touched. Call it
    inside the transaction that stores the events."""
    counts = Counter((hour_of(e.timestamp), e.service_id, e.type, e.severity, e.source) for e in events)
    if not counts:
        return 0
    table = connection.ops.quote_name(EventRollup._meta.db_table)
    adapt = connection.ops.adapt_datetimefield_value
    keys = sorted(counts)
    with connection.cursor() as cursor:
        for start in range(0, len(keys), UPSERT_CHUNK):
            chunk = keys[start : start + UPSERT_CHUNK]
            params: list = []
            for key in chunk:
                hour, service_id, type_, severity, source = key
                params += [adapt(hour), service_id, type_, severity, source, counts[key]]
            values = ", ".join(["(%s, %s, %s, %s, %s, %s)"] * len(chunk))
            cursor.execute(
                f'INSERT INTO {table} ("hour", "service_id", "type", "severity", "source", "count") VALUES {values} '
                f'ON CONFLICT ("hour", "service_id", "type", "severity", "source") '
                f'DO UPDATE SET "count" = {table}."count" + excluded."count"',
                params,
            )
    return len(keys)


def _ceil_hour(ts: datetime) -> datetime:
    hour = hour_of(ts)
    return hour if hour == ts else hour + HOUR


def _split(since: datetime | None, until: datetime | None) -> tuple[dict | None, list[dict]]:
    """Cover [since, until] (None: open) exactly: a filter of the whole hours on the rollups (None:
    no whole hour) and the filters of the partial hours at the ends, on the events."""
    first = _ceil_hour(since) if since is not None else None  # the first whole hour
    last = hour_of(until) if until is not None else None  # whole hours end where this one starts
    if first is not None and last is not None and first >= last:
        return None, [{"timestamp__gte": since, "timestamp__lte": until}]  # within two partial hours
    hours: dict = {}
    edges: list[dict] = []
    if first is not None:
        hours["hour__gte"] = first
        if since < first:
            edges.append({"timestamp__gte": since, "timestamp__lt": first})
    if last is not None:
        hours["hour__lt"] = last
        edges.append({"timestamp__gte": last, "timestamp__lte": until})
    return hours, edges


def event_counts(*, since: datetime | None, until: datetime | None) -> dict[str, int]:
    """Events between since and until (inclusive, None = open), by type, plus "events" (all)."""
    hours, edges = _split(since, until)
    by_type: Counter = Counter()
    if hours is not None:
        by_type.update(dict(EventRollup.objects.filter(**hours).order_by().values_list("type").annotate(n=Sum("count"))))
    for edge in edges:
        # COUNT(*) per type over at most an hour of events.
        part = Event.objects.filter(**edge)
        by_type.update(dict(part.order_by().values_list("type").annotate(n=Count("*"))))
    return {"events": sum(by_type.values()), **{t: by_type.get(t, 0) for t in Event.Type.values}}


TRUNC = {"minute": TruncMinute, "hour": TruncHour, "day": TruncDay}


def event_buckets(*, type_: str, since: datetime, until: datetime, unit: str) -> dict[datetime, int]:
    """Events of `type_` between since and until per minute, hour or day (the bucket's start)."""
    trunc = TRUNC[unit]
    if unit == "minute":  # a range of two hours at most: the events themselves
        hours, edges = None, [{"timestamp__gte": since, "timestamp__lte": until}]
    else:
        hours, edges = _split(since, until)
    buckets: Counter = Counter()
    if hours is not None:
        rows = (EventRollup.objects.filter(type=type_, **hours).annotate(b=trunc("hour")).order_by()
                .values_list("b").annotate(n=Sum("count")).values_list("b", "n"))
        buckets.update(dict(rows))
    for edge in edges:
        part = Event.objects.filter(type=type_, **edge)
        buckets.update(dict(part.annotate(b=trunc("timestamp")).order_by().values_list("b").annotate(n=Count("*")).values_list("b", "n")))
    return dict(buckets)


def first_hour(*, not_before: datetime) -> datetime | None:
    """The earliest hour with events at or after `not_before` (rollups outlive retention)."""
    return (EventRollup.objects.filter(hour__gte=hour_of(not_before)).order_by("hour").values_list("hour", flat=True).first())
