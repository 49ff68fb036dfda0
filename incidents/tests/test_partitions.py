"""Events partitioned by time (PostgreSQL) and retention (both backends), on the real database.

What is checked: where rows land (tableoid), that the client-id rule still holds across partitions,
that retention drops whole partitions past EVENT_RETENTION_DAYS and leaves the rollups' counts,
and that migration 0011 turns an existing plain table with events into the partitioned one
(same rows, same ids, the sequence continuing, ids already stored still refused)."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.models import Sum

from incidents import retention, selectors
from incidents.ingest import EventIn, events_store
from incidents.models import Event, EventClientId, EventRollup

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _event(ts: datetime, cid: str, type_: str = "log") -> EventIn:
    return EventIn(timestamp=ts, service="checkout", type=type_, severity="info", message="m", client_id=cid)


def _where(client_id: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT tableoid::regclass::text FROM incidents_event WHERE client_id = %s", [client_id])
        return cursor.fetchone()[0]


@pytest.fixture
def pg():
    if connection.vendor != "postgresql":
        pytest.skip("events are partitioned on PostgreSQL only (SQLite keeps a plain table)")
    assert retention.partitioned()


@pytest.mark.django_db
def test_events_land_in_their_period_or_the_default_partition_and_ids_stay_unique(pg, settings):
    retention.partitions_ensure(now=NOW, since=(NOW - timedelta(days=20)).date())
    events_store(events=[_event(NOW, "now"), _event(NOW - timedelta(days=15), "old"), _event(datetime(1990, 1, 1, tzinfo=UTC), "absurd")])
    week = retention.period_start(NOW.date(), settings.EVENT_PARTITION_DAYS)
    assert _where("now") == retention.partition_name(week)
    assert _where("old") == retention.partition_name(retention.period_start((NOW - timedelta(days=15)).date(), settings.EVENT_PARTITION_DAYS))
    assert _where("absurd") == retention.DEFAULT_PARTITION
    # The same id again, with another timestamp (so another partition): a duplicate, not stored.
    again = events_store(events=[_event(NOW - timedelta(days=15), "now"), _event(NOW, "absurd"), _event(NOW, "fresh")])
    assert (again.accepted, again.duplicates) == (1, 2)
    assert Event.objects.filter(client_id__in=["now", "absurd"]).count() == 2
    # A partition made later takes the default partition's rows of its range.
    events_store(events=[_event(NOW + timedelta(days=60), "far")])
    assert _where("far") == retention.DEFAULT_PARTITION
    retention.partitions_ensure(now=NOW + timedelta(days=60), ahead=0)
    assert _where("far") == retention.partition_name(retention.period_start((NOW + timedelta(days=60)).date(), settings.EVENT_PARTITION_DAYS))


@pytest.mark.django_db
def test_new_partitions_leave_the_fillfactor_free_for_the_template_update(pg, settings):
    settings.EVENT_PARTITION_FILLFACTOR = 85
    [name] = retention.partitions_ensure(now=NOW + timedelta(days=400), ahead=0)
    with connection.cursor() as cursor:
        cursor.execute("SELECT reloptions FROM pg_class WHERE relname = %s", [name])
        assert cursor.fetchone()[0] == ["fillfactor=85"]


@pytest.mark.django_db
def test_retention_drops_whole_partitions_past_the_limit_and_keeps_the_counts(pg, settings):
    settings.EVENT_RETENTION_DAYS = 30
    retention.partitions_ensure(now=NOW, since=(NOW - timedelta(days=70)).date())
    days = [1, 10, 29, 35, 50, 65]
    events_store(events=[_event(NOW - timedelta(days=d), f"d{d}", "alert") for d in days] + [_event(datetime(2001, 5, 5, tzinfo=UTC), "ancient")])
    before = selectors.stats_for_range(since=None, until=None)
    result = retention.events_retention(now=NOW)
    cutoff = NOW - timedelta(days=30)
    period = timedelta(days=settings.EVENT_PARTITION_DAYS)
    # Every partition that ended before the cutoff is gone, whole; the one straddling it stays.
    assert result.dropped and all(datetime.strptime(n[-8:], "%Y%m%d").replace(tzinfo=UTC) + period <= cutoff for n in result.dropped)
    with connection.cursor() as cursor:
        names = retention.partitions(cursor)
    assert not set(result.dropped) & set(names)
    kept = set(Event.objects.values_list("client_id", flat=True))
    assert {"d1", "d10", "d29"} <= kept and not {"d50", "d65", "ancient"} & kept
    # d35 is older than the cutoff but shares a partition with newer events when that partition
    # straddles the cutoff: whole partitions only.
    straddling = retention.period_start((NOW - timedelta(days=35)).date(), settings.EVENT_PARTITION_DAYS)
    assert ("d35" in kept) == (retention.partition_name(straddling) in names)
    assert result.deleted_events == 1  # "ancient", from the default partition
    # The counts stay: the rollups are not retained by time.
    after = selectors.stats_for_range(since=None, until=None)
    assert (after["events"], after["alerts"]) == (before["events"], before["alerts"]) == (7, 6)
    assert EventRollup.objects.aggregate(n=Sum("count"))["n"] == 7
    # Ids of dropped events go too; the kept ones still refuse a second copy.
    assert not EventClientId.objects.filter(client_id__in=["d50", "d65", "ancient"]).exists()
    assert events_store(events=[_event(NOW - timedelta(days=1), "d1")]).duplicates == 1
    # Partitions ahead are ready.
    ahead = retention.period_start(NOW.date(), settings.EVENT_PARTITION_DAYS) + settings.EVENT_PARTITIONS_AHEAD * period
    assert retention.partition_name(ahead) in names


@pytest.mark.django_db
def test_retention_on_sqlite_deletes_the_old_events(settings):
    if connection.vendor != "sqlite":
        pytest.skip("the SQLite path")
    settings.EVENT_RETENTION_DAYS = 30
    events_store(events=[_event(NOW - timedelta(days=d), f"d{d}", "alert") for d in (1, 29, 31, 90)])
    result = retention.events_retention(now=NOW)
    assert result.deleted_events == 2 and set(Event.objects.values_list("client_id", flat=True)) == {"d1", "d29"}
    assert selectors.stats_for_range(since=None, until=None)["alerts"] == 4  # rollups keep counting


@pytest.mark.django_db(transaction=True)
def test_the_migration_partitions_an_existing_table_with_events(pg):
    call_command("migrate", "incidents", "0010_ingest_message", verbosity=0)  # a plain table, ids unique on it
    try:
        assert not retention.partitioned()
        with connection.cursor() as cursor:
            cursor.execute("SELECT id FROM incidents_service WHERE name = 'checkout'")
            row = cursor.fetchone()
            if row is None:
                cursor.execute("INSERT INTO incidents_service (name, tier, team, runbook_url, description, created_at) "
                               "VALUES ('checkout', '', '', '', '', now()) RETURNING id")
                row = cursor.fetchone()
            for i, ts in enumerate([NOW, NOW - timedelta(days=3), NOW - timedelta(days=12), datetime(1999, 1, 1, tzinfo=UTC)]):
                cursor.execute(
                    "INSERT INTO incidents_event (timestamp, received_at, service_id, type, severity, message, metric, host, fingerprint, "
                    "attributes, client_id, source) VALUES (%s, now(), %s, 'log', 'info', 'm', '', '', '', '{}', %s, 'api')",
                    [ts, row[0], f"pre-{i}"])
            cursor.execute("SELECT array_agg(id ORDER BY id), max(id) FROM incidents_event")
            ids, top = cursor.fetchone()
    finally:
        call_command("migrate", "incidents", verbosity=0)
    assert retention.partitioned()
    assert sorted(Event.objects.values_list("pk", flat=True)) == ids
    assert _where("pre-3") == retention.DEFAULT_PARTITION
    new = events_store(events=[_event(NOW, "pre-0"), _event(NOW, "post")])
    assert (new.accepted, new.duplicates) == (1, 1)  # the ids stored before the migration still count
    assert Event.objects.get(client_id="post").pk > top


@pytest.mark.django_db
def test_the_scheduled_task_applies_retention_and_says_what_it_did(settings):
    from io import StringIO

    from django_q.models import Schedule

    from incidents import tasks

    call_command("setup_schedules", stdout=StringIO())
    assert Schedule.objects.get(func="incidents.tasks.events_retention").schedule_type == Schedule.HOURLY
    settings.EVENT_RETENTION_DAYS = 30
    events_store(events=[_event(datetime.now(UTC) - timedelta(days=400), "very-old")])
    done = tasks.events_retention()
    assert set(done) == {"created", "dropped", "deleted_events", "deleted_client_ids"}
    assert not Event.objects.filter(client_id="very-old").exists() and done["deleted_client_ids"] >= 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_batches_sending_the_same_ids_store_each_once_without_deadlock(pg):
    """Four threads store the same 300 client ids at once, each batch in its own order (COPY
    store: the ids are claimed with ON CONFLICT DO NOTHING, which waits for the other batch)."""
    import random
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connections

    def work(k: int):
        batch = [_event(NOW - timedelta(minutes=i), f"same-{i}") for i in range(300)]
        random.Random(k).shuffle(batch)
        try:
            return events_store(events=batch)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(work, range(4)))  # a thread's exception is raised here
    assert sum(r.accepted for r in results) == 300 and sum(r.duplicates for r in results) == 900
    assert Event.objects.filter(client_id__startswith="same-").count() == 300 == EventClientId.objects.count()
    assert EventRollup.objects.aggregate(n=Sum("count"))["n"] == 300
