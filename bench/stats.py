"""What the stats cost as events pile up: counting the events (main before rollups) against reading
the hourly rollups (incidents.rollups), at 10^4, 10^5 and 10^6 events.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres nice -n 10 .venv/bin/python bench/stats.py \
        [--sizes 10000,100000,1000000] [--days 30] [--repeat 5]

A fresh database (`cleara_bench_stats_<pid>`, dropped afterwards; a temporary SQLite file when
DATABASE_URL is not PostgreSQL), migrated, 21 services; events generated in the database
(`INSERT ... SELECT generate_series`: types, severities and services cycling, timestamps spread
over the last `--days` days), their rollups counted with one GROUP BY as the migration's backfill
does, ANALYZE. For each size, the median of `--repeat` runs (after one warm-up) of:
- all time: `/api/v1/stats` with no range (the dashboard's "all" range) and the trend by day;
- last 24 h: the same with since = now - 24 h (trend by hour);
"before" is main's queries (three COUNT(*)s over the range's events, alerts per bucket by
Trunc over the events), "after" the rollups (whole hours) plus the events of the partial hours.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.db import bench_database  # noqa: E402


def before_counts(*, since, until) -> dict:
    """Main's stats_for_range event counts (before the rollups)."""
    from incidents.models import Event

    events = Event.objects.all()
    if since:
        events = events.filter(timestamp__gte=since)
    if until:
        events = events.filter(timestamp__lte=until)
    return {"events": events.count(), "alert": events.filter(type="alert").count(), "anomaly": events.filter(type="anomaly").count()}


def before_buckets(*, since, until, unit) -> dict:
    """Main's stats_trend alert buckets (before the rollups)."""
    from django.db.models import Count

    from incidents.models import Event
    from incidents.rollups import TRUNC

    alerts = Event.objects.filter(type="alert", timestamp__gte=since, timestamp__lte=until)
    return dict(alerts.annotate(b=TRUNC[unit]("timestamp")).order_by().values_list("b").annotate(n=Count("*")).values_list("b", "n"))


def generate(n: int, *, offset: int, days: int, now) -> None:
    from django.db import connection

    from incidents.models import Service

    ids = list(Service.objects.order_by("pk").values_list("pk", flat=True))
    span = days * 86400
    if connection.vendor == "postgresql":
        sql = f"""
            INSERT INTO incidents_event (timestamp, received_at, service_id, type, severity, message, metric, value, host,
                                         fingerprint, attributes, client_id, source, template_params)
            SELECT %s::timestamptz - make_interval(secs => ((g::bigint * 7919) %% {span}) + (g %% 1000) / 1000.0), %s,
                   (%s::bigint[])[1 + g %% {len(ids)}], (ARRAY['log','log','metric','metric','alert','anomaly'])[1 + g %% 6],
                   (ARRAY['info','warning','critical'])[1 + (g / 7) %% 3], 'generated', '', g %% 100, 'h' || (g %% 3), '', '{{}}',
                   'gen-' || g, 'api', NULL
              FROM generate_series(%s, %s) AS g"""
        with connection.cursor() as cursor:
            cursor.execute(sql, [now, now, ids, offset, offset + n - 1])
    else:  # SQLite: a recursive CTE instead of generate_series
        sql = f"""
            WITH RECURSIVE g(x) AS (SELECT %s UNION ALL SELECT x + 1 FROM g WHERE x < %s)
            INSERT INTO incidents_event (timestamp, received_at, service_id, type, severity, message, metric, value, host,
                                         fingerprint, attributes, client_id, source, template_params)
            SELECT strftime('%%Y-%%m-%%d %%H:%%M:%%f', %s, '-' || ((x * 7919) %% {span}) || ' seconds'), %s,
                   (SELECT min(id) FROM incidents_service) + x %% {len(ids)},
                   CASE x %% 6 WHEN 0 THEN 'log' WHEN 1 THEN 'log' WHEN 2 THEN 'metric' WHEN 3 THEN 'metric' WHEN 4 THEN 'alert' ELSE 'anomaly' END,
                   CASE (x / 7) %% 3 WHEN 0 THEN 'info' WHEN 1 THEN 'warning' ELSE 'critical' END, 'generated', '', x %% 100, 'h' || (x %% 3),
                   '', '{{}}', 'gen-' || x, 'api', NULL
              FROM g"""
        with connection.cursor() as cursor:
            cursor.execute(sql, [offset, offset + n - 1, now.strftime("%Y-%m-%d %H:%M:%S"), now.strftime("%Y-%m-%d %H:%M:%S")])


def recount() -> None:
    """The rollups from the events, as the migration's backfill counts them."""
    from django.db import connection
    from django.db.models import Count
    from django.db.models.functions import TruncHour

    from incidents.models import Event, EventRollup

    EventRollup.objects.all().delete()
    rows = Event.objects.annotate(h=TruncHour("timestamp")).order_by().values("h", "service_id", "type", "severity", "source").annotate(n=Count("*"))
    EventRollup.objects.bulk_create([EventRollup(hour=r["h"], service_id=r["service_id"], type=r["type"], severity=r["severity"],
                                                 source=r["source"], count=r["n"]) for r in rows.iterator(chunk_size=10000)], batch_size=5000)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def timed(fn, repeat: int) -> tuple[float, object]:
    result = fn()  # warm-up (and the answer, compared below)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    with bench_database("stats") as env:
        os.environ.update(env, LOG_LEVEL="WARNING", CLEARA_DEMO="0")
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cleara.settings")
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connection
        from django.utils import timezone

        from incidents import rollups, selectors
        from incidents.models import EventRollup, Service

        call_command("migrate", verbosity=0)
        Service.objects.bulk_create([Service(name=f"svc-{i:02d}") for i in range(21)])
        now = timezone.now()
        print(f"stats bench on {connection.vendor}: events over {args.days} days, 21 services; median of {args.repeat}; "
              f"load {os.getloadavg()[0]:.2f}")
        print(f"{'events':>9} {'rollup rows':>11} | {'query':<26} {'before ms':>10} {'after ms':>9} {'same answer':>11}")
        done = 0
        for size in sizes:
            t0 = time.perf_counter()
            generate(size - done, offset=done, days=args.days, now=now)
            done = size
            recount()
            setup = time.perf_counter() - t0
            day = now - timedelta(hours=24)
            cases = [
                ("all time: counts", lambda: before_counts(since=None, until=None),
                 lambda: rollups.event_counts(since=None, until=None)),
                ("all time: alerts by day", lambda: before_buckets(since=now - timedelta(days=args.days + 1), until=now, unit="day"),
                 lambda: rollups.event_buckets(type_="alert", since=now - timedelta(days=args.days + 1), until=now, unit="day")),
                ("last 24 h: counts", lambda: before_counts(since=day, until=None),
                 lambda: rollups.event_counts(since=day, until=None)),
                ("last 24 h: alerts by hour", lambda: before_buckets(since=day, until=now, unit="hour"),
                 lambda: rollups.event_buckets(type_="alert", since=day, until=now, unit="hour")),
                ("/api/v1/stats all time", None, lambda: selectors.stats_for_range(since=None, until=None)),
                ("dashboard trend all time", None, lambda: selectors.stats_trend(since=None, until=None, now=now)),
            ]
            n_rollups = EventRollup.objects.count()
            for name, before, after in cases:
                t_after, r_after = timed(after, args.repeat)
                if before is None:
                    print(f"{size:>9,} {n_rollups:>11,} | {name:<26} {'':>10} {t_after * 1000:>9.1f} {'':>11}")
                    continue
                t_before, r_before = timed(before, args.repeat)
                if "counts" in name:
                    same = (r_before["events"], r_before["alert"], r_before["anomaly"]) == (r_after["events"], r_after["alert"], r_after["anomaly"])
                else:
                    same = r_before == r_after
                print(f"{size:>9,} {n_rollups:>11,} | {name:<26} {t_before * 1000:>10.1f} {t_after * 1000:>9.1f} {'yes' if same else 'NO':>11}")
            print(f"{'':>9} (generated and counted in {setup:.0f} s)")
        connection.close()
    print(f"load after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
