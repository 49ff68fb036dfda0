"""Event retention, and on PostgreSQL the time partitions of the events table.

On PostgreSQL `incidents_event` is partitioned by range of `timestamp` (migration 0011, whose
docstring says why it is built this way): one partition per EVENT_PARTITION_DAYS days
(`incidents_event_pYYYYMMDD`, named by its first day, UTC) and a default partition
(`incidents_event_pdefault`) for any timestamp outside them (an absurd date, a backfill older
than the partitions). `events_retention()` (scheduled hourly, incidents.tasks) keeps partitions
ready EVENT_PARTITIONS_AHEAD periods ahead and drops, whole, every partition whose last instant is
older than EVENT_RETENTION_DAYS: a DROP TABLE, no row-by-row DELETE, no vacuum debt. Rows of the
default partition past retention are deleted (few by construction). On SQLite (the embedded
default, a plain table) retention deletes the old events in batches.

Retention drops raw events only: the hourly rollups (incidents.rollups) keep counting them, and
incidents keep their own counts; the client ids of dropped events are deleted with them (the
ingest window, INGEST_MAX_PAST_DAYS, refuses such old timestamps anyway).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from incidents.models import Event, EventClientId

TABLE = "incidents_event"
DEFAULT_PARTITION = f"{TABLE}_pdefault"
EPOCH = date(2000, 1, 3)  # a Monday: with 7-day partitions each starts on a Monday


@dataclass
class RetentionResult:
    created: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    deleted_events: int = 0
    deleted_client_ids: int = 0


def partitioned() -> bool:
    """Whether the events table is partitioned here (PostgreSQL after migration 0011)."""
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_partitioned_table WHERE partrelid = to_regclass(%s)", [TABLE])
        return cursor.fetchone() is not None


def period_start(day: date, days: int) -> date:
    """The first day of the partition holding `day`."""
    return day - timedelta(days=(day - EPOCH).days % days)


def partition_name(start: date) -> str:
    return f"{TABLE}_p{start:%Y%m%d}"


def _bounds(start: date, days: int) -> tuple[datetime, datetime]:
    lo = datetime(start.year, start.month, start.day, tzinfo=UTC)
    return lo, lo + timedelta(days=days)


def partitions(cursor) -> dict[str, tuple[datetime, datetime] | None]:
    """{partition name: (from, to)} of the events table; the default partition maps to None."""
    cursor.execute(
        """SELECT c.relname, pg_get_expr(c.relpartbound, c.oid)
             FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
            WHERE i.inhparent = to_regclass(%s)""", [TABLE])
    out: dict = {}
    for name, bound in cursor.fetchall():
        out[name] = None
        if name != DEFAULT_PARTITION and bound.startswith("FOR VALUES FROM"):
            lo, hi = bound.split("('", 1)[1].split("')", 1)[0], bound.rsplit("('", 1)[1].split("')", 1)[0]
            out[name] = (datetime.fromisoformat(lo).astimezone(UTC), datetime.fromisoformat(hi).astimezone(UTC))
    return out


def partition_create(cursor, start: date, days: int) -> str:
    """Create the partition starting at `start`, moving into it any rows the default partition
    holds for its range (PostgreSQL refuses to attach a range the default partition has rows of)."""
    name = partition_name(start)
    lo, hi = _bounds(start, days)
    cursor.execute(f'CREATE TABLE "{name}" (LIKE "{TABLE}" INCLUDING DEFAULTS) WITH (fillfactor = {int(settings.EVENT_PARTITION_FILLFACTOR)})')
    cursor.execute(f'WITH moved AS (DELETE FROM "{DEFAULT_PARTITION}" WHERE "timestamp" >= %s AND "timestamp" < %s RETURNING *) '
                   f'INSERT INTO "{name}" SELECT * FROM moved', [lo, hi])
    cursor.execute(f'ALTER TABLE "{TABLE}" ATTACH PARTITION "{name}" FOR VALUES FROM (%s) TO (%s)', [lo, hi])
    return name


def partitions_ensure(*, now: datetime, days: int | None = None, ahead: int | None = None, since: date | None = None) -> list[str]:
    """Create the missing partitions from `since` (default: the current period) to `ahead` periods
    after the current one; returns the names created."""
    days = days or settings.EVENT_PARTITION_DAYS
    ahead = settings.EVENT_PARTITIONS_AHEAD if ahead is None else ahead
    current = period_start(now.astimezone(UTC).date(), days)
    start = period_start(since, days) if since else current
    created = []
    with transaction.atomic(), connection.cursor() as cursor:
        existing = partitions(cursor)
        taken = [b for b in existing.values() if b]
        day = start
        while day <= current + timedelta(days=days * ahead):
            lo, hi = _bounds(day, days)
            # A partition made with another EVENT_PARTITION_DAYS may overlap: leave that range alone.
            if partition_name(day) not in existing and not any(a < hi and lo < b for a, b in taken):
                created.append(partition_create(cursor, day, days))
            day += timedelta(days=days)
    return created


def events_retention(*, now: datetime | None = None) -> RetentionResult:
    """Apply EVENT_RETENTION_DAYS (0: keep everything) and keep partitions ready ahead."""
    now = now or timezone.now()
    result = RetentionResult()
    cutoff = now - timedelta(days=settings.EVENT_RETENTION_DAYS) if settings.EVENT_RETENTION_DAYS > 0 else None
    if partitioned():
        result.created = partitions_ensure(now=now)
        if cutoff is not None:
            with transaction.atomic(), connection.cursor() as cursor:
                # Deferred foreign-key checks of rows written earlier in this transaction would
                # block the DROP ("pending trigger events"): run them now.
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
                for name, bounds in sorted(partitions(cursor).items()):
                    if bounds and bounds[1] <= cutoff:
                        cursor.execute(f'DROP TABLE "{name}"')  # detaches it from the parent too
                        result.dropped.append(name)
                cursor.execute(f'DELETE FROM "{DEFAULT_PARTITION}" WHERE "timestamp" < %s', [cutoff])
                result.deleted_events = cursor.rowcount
    elif cutoff is not None:
        while True:  # SQLite: batches, so a writer never waits long on the database lock
            with transaction.atomic():
                ids = list(Event.objects.filter(timestamp__lt=cutoff).values_list("pk", flat=True)[:10000])
                if not ids:
                    break
                result.deleted_events += Event.objects.filter(pk__in=ids).delete()[0]
    if cutoff is not None:
        # Whole dropped partitions end before the cutoff; a partition that straddles it keeps its
        # events, and their ids stay with them.
        oldest = _oldest_kept(cutoff)
        result.deleted_client_ids = EventClientId.objects.filter(timestamp__lt=oldest).delete()[0]
    return result


def _oldest_kept(cutoff: datetime) -> datetime:
    first = Event.objects.filter(timestamp__lt=cutoff).order_by("timestamp").values_list("timestamp", flat=True).first()
    return first if first is not None else cutoff
