"""Per-hour event counts (incidents.rollups): written in the ingest transaction, read by the stats.

The reference every test compares with is the events themselves, counted by the database
(GROUP BY over incidents_event): the rollups must say exactly that, for any range."""
from __future__ import annotations

import random
import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection, connections, transaction
from django.db.models import Count, Sum
from django.db.models.functions import TruncHour

from incidents import rollups, selectors
from incidents.ingest import EventIn, events_store
from incidents.models import Event, EventRollup

T0 = datetime(2026, 11, 30, 6, 0, tzinfo=UTC)
TYPES = ["alert", "log", "metric", "anomaly"]
SEVERITIES = ["critical", "warning", "info"]


def _events(n: int, *, seed: int, prefix: str, hours: float = 10) -> list[EventIn]:
    rng = random.Random(seed)
    return [
        EventIn(timestamp=T0 + timedelta(seconds=rng.uniform(0, hours * 3600)), service=rng.choice(["api", "db", "cache"]),
                type=rng.choice(TYPES), severity=rng.choice(SEVERITIES), message="m", value=1.0, client_id=f"{prefix}-{i}")
        for i in range(n)
    ]


def _by_key_from_events() -> dict:
    rows = (Event.objects.annotate(h=TruncHour("timestamp")).order_by().values_list("h", "service_id", "type", "severity", "source")
            .annotate(n=Count("*")))
    return {tuple(r[:5]): r[5] for r in rows}


def _by_key_from_rollups() -> dict:
    return {(r.hour, r.service_id, r.type, r.severity, r.source): r.count for r in EventRollup.objects.all()}


@pytest.mark.django_db
def test_ingest_writes_the_hours_counts_and_repeats_add_nothing():
    first = events_store(events=_events(400, seed=1, prefix="a"))
    assert first.accepted == 400
    assert _by_key_from_rollups() == _by_key_from_events()
    # Same keys again (new ids) add up; the same ids again are duplicates and count nothing.
    events_store(events=_events(300, seed=2, prefix="b"))
    again = events_store(events=_events(400, seed=1, prefix="a"))
    assert again.accepted == 0 and again.duplicates == 400
    assert _by_key_from_rollups() == _by_key_from_events()
    assert EventRollup.objects.aggregate(n=Sum("count"))["n"] == Event.objects.count() == 700


@pytest.mark.django_db
def test_a_batch_rolled_back_takes_its_counts_with_it():
    events_store(events=_events(50, seed=3, prefix="kept"))
    with pytest.raises(RuntimeError), transaction.atomic():
        events_store(events=_events(50, seed=4, prefix="lost"))
        raise RuntimeError("the request failed after storing")
    assert EventRollup.objects.aggregate(n=Sum("count"))["n"] == Event.objects.count() == 50


@pytest.mark.django_db
def test_counts_for_any_range_equal_the_events_counted_one_by_one():
    events_store(events=_events(1500, seed=5, prefix="r", hours=30))
    rng = random.Random(6)
    ranges = [(None, None), (T0, None), (None, T0 + timedelta(hours=5)), (T0 + timedelta(hours=2), T0 + timedelta(hours=3)),
              (T0 + timedelta(minutes=10), T0 + timedelta(minutes=50)), (T0 + timedelta(minutes=50), T0 + timedelta(hours=1, minutes=5))]
    for _ in range(40):
        a = T0 + timedelta(seconds=rng.uniform(-3600, 32 * 3600))
        b = a + timedelta(seconds=rng.choice([1, 600, 3600, 5400, rng.uniform(0, 40 * 3600)]))
        ranges.append((a, b))
    # An event exactly on an hour and on the range's ends counts once (the ends are inclusive).
    events_store(events=[EventIn(timestamp=T0 + timedelta(hours=4), service="api", type="alert", severity="critical", client_id="edge")])
    ranges += [(T0 + timedelta(hours=4), T0 + timedelta(hours=4)), (T0 + timedelta(hours=3), T0 + timedelta(hours=4)),
               (T0 + timedelta(hours=4), T0 + timedelta(hours=6))]
    for since, until in ranges:
        events = Event.objects.all()
        if since:
            events = events.filter(timestamp__gte=since)
        if until:
            events = events.filter(timestamp__lte=until)
        expected = dict(events.order_by().values_list("type").annotate(n=Count("*")))
        counts = rollups.event_counts(since=since, until=until)
        assert {t: counts[t] for t in TYPES if counts[t]} == expected, (since, until)
        assert counts["events"] == events.count()
        stats = selectors.stats_for_range(since=since, until=until)
        assert (stats["events"], stats["alerts"], stats["anomalies"]) == (events.count(), expected.get("alert", 0), expected.get("anomaly", 0))
        if since and until and until > since:
            for unit, trunc in (("hour", "hour"), ("day", "day")) + ((("minute", "minute"),) if until - since <= timedelta(hours=2) else ()):
                from incidents.rollups import TRUNC

                want = dict(events.filter(type="alert").annotate(b=TRUNC[trunc]("timestamp")).order_by().values_list("b")
                            .annotate(n=Count("*")).values_list("b", "n"))
                assert rollups.event_buckets(type_="alert", since=since, until=until, unit=unit) == want, (since, until, unit)


@pytest.mark.django_db
def test_counts_outlive_the_events_retention_drops():
    events_store(events=_events(200, seed=7, prefix="old", hours=3))
    total = Event.objects.count()
    Event.objects.filter(timestamp__lt=T0 + timedelta(hours=2)).delete()  # what dropping a partition does
    assert selectors.stats_for_range(since=None, until=None)["events"] == total
    trend = selectors.stats_trend(since=None, until=T0 + timedelta(days=4), now=T0 + timedelta(days=4))
    assert trend["buckets"][0] == T0.replace(hour=0)  # the first day with events, from the rollups
    assert sum(trend["alerts"]) == EventRollup.objects.filter(type="alert").aggregate(n=Sum("count"))["n"]


@pytest.mark.django_db(transaction=True)
def test_concurrent_batches_on_the_same_hours_neither_deadlock_nor_lose_counts():
    """Four threads store batches over the same keys, each in its own order (PostgreSQL row locks)."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite serialises writers: nothing concurrent to check")
    errors: list[BaseException] = []

    def work(k: int) -> None:
        try:
            for j in range(5):
                batch = _events(200, seed=100 * k + j, prefix=f"t{k}-{j}", hours=4)
                random.Random(k).shuffle(batch)
                events_store(events=batch)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert Event.objects.count() == 4 * 5 * 200
    assert _by_key_from_rollups() == _by_key_from_events()


@pytest.mark.django_db(transaction=True)
def test_the_migration_backfills_the_events_already_stored():
    from django.core.management import call_command

    events_store(events=_events(300, seed=8, prefix="pre", hours=6))
    call_command("migrate", "incidents", "0008", verbosity=0)  # before rollups existed
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM incidents_event")
            assert cursor.fetchone()[0] == 300
    finally:
        call_command("migrate", "incidents", verbosity=0)
    assert _by_key_from_rollups() == _by_key_from_events()
    assert EventRollup.objects.aggregate(n=Sum("count"))["n"] == 300
