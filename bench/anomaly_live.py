"""Live anomaly scoring throughput: metric points per second through
`correlation.anomaly.detect_anomalies`, the function the ingest pipeline calls on every batch.

    .venv/bin/python bench/anomaly_live.py [--series 200] [--batch 5000] [--batches 6] [--history 4000]

Works in a throwaway database next to DATABASE_URL's (PostgreSQL; a temporary SQLite file when
DATABASE_URL is not PostgreSQL), migrated first. Every series starts warm: one ensemble detector is
fed --history points of a daily cycle with noise at one point a minute, and its stored state is
copied to every series' SeriesBaseline, as after a few days of live traffic. Then --batches
batches of --batch metric events, spread evenly over --series series (service, metric, host), are
stored and scored one after the other in this process, as one ingest worker would see them.

Prints, per batch, the wall time of `detect_anomalies` and points per second; the same points
through the detectors alone (no database, no state handling: the ceiling); and the stored state's
size per series. With --alternate the batches take turns between two detector caches, as when
two worker processes share the series.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.db import bench_database  # noqa: E402

T0 = datetime(2026, 11, 2, tzinfo=UTC)
STEP = timedelta(minutes=1)


def series_values(rng, start: int, n: int):
    import numpy as np

    i = start + np.arange(n)
    return (50 + 10 * np.sin(2 * np.pi * i / 1440) + rng.normal(0, 1, n)).tolist()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--series", type=int, default=200)
    parser.add_argument("--batch", type=int, default=5000, help="metric events per batch")
    parser.add_argument("--batches", type=int, default=6)
    parser.add_argument("--history", type=int, default=4000, help="points each series has seen before the first batch")
    parser.add_argument("--alternate", action="store_true",
                        help="batches alternate between two detector caches, as between two worker processes")
    args = parser.parse_args()

    with bench_database("anomaly_live") as env:
        subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
        os.environ.update(env)
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cleara.settings")
        import django

        django.setup()
        run(args)
        from django.db import connections

        connections.close_all()
    return 0


def run(args) -> None:
    import numpy as np
    from django.db import connection

    from correlation import anomaly
    from correlation.detectors import detector_from_state
    from correlation.models import SeriesBaseline
    from correlation.training import detector_for, state_dumps, state_loads
    from incidents.models import Event, Service

    rng = np.random.default_rng(0)
    per_series = args.batch // args.series
    services = [Service.objects.create(name=f"svc-{i}") for i in range(10)]
    keys = [(services[i % 10], f"metric_{(i // 10) % 4}", f"host-{i // 40}") for i in range(args.series)]

    warm = detector_for(None)
    for j, v in enumerate(series_values(rng, 0, args.history)):
        warm.update((T0 + j * STEP).timestamp(), v)
    blob = state_dumps(warm.get_state())
    last = T0 + (args.history - 1) * STEP
    SeriesBaseline.objects.bulk_create([
        SeriesBaseline(service=s, metric=m, host=h, detector="ensemble", state=blob, points=args.history, last_timestamp=last)
        for s, m, h in keys
    ])
    print(f"anomaly_live: {args.series} series, batches of {per_series * args.series} metric events "
          f"({per_series} per series), {args.batches} batches{' alternating between two caches' if args.alternate else ''}, "
          f"each series warm with {args.history} points; "
          f"database {connection.vendor}; stored state {len(blob) / 1e3:.0f} kB per series")

    caches = [getattr(anomaly, "_CACHE", None)]
    if args.alternate:
        caches.append(anomaly.SeriesCache())
    rates = []
    detector_seconds = 0.0
    detector_points = 0
    for b in range(args.batches):
        start = args.history + b * per_series
        events = []
        for s, m, h in keys:
            for j, v in enumerate(series_values(rng, start, per_series)):
                events.append(Event(timestamp=T0 + (start + j) * STEP, service=s, type=Event.Type.METRIC,
                                    metric=m, host=h, value=v, message=""))
        events = Event.objects.bulk_create(events)
        cache = caches[b % len(caches)]  # the per-process detector cache, when there is one
        if cache is not None:
            anomaly._CACHE = cache
        loads, checkpoints = (cache.loads, cache.checkpoints) if cache else (0, 0)
        t = time.perf_counter()
        found = anomaly.detect_anomalies(events=events)
        seconds = time.perf_counter() - t
        rates.append(len(events) / seconds)
        counts = f", {cache.loads - loads} states loaded, {cache.checkpoints - checkpoints} written" if cache else ""
        print(f"  batch {b + 1}: {len(events)} points in {seconds:.2f} s = {len(events) / seconds:,.0f} points/s"
              f" ({len(found)} anomalies{counts})")
        if b == 0:
            # the detectors alone on the same points, from the same warm state
            by_series = {}
            for e in events:
                by_series.setdefault((e.service_id, e.metric, e.host), []).append((e.timestamp.timestamp(), e.value))
            dets = {k: detector_from_state(state_loads(blob)) for k in by_series}
            t = time.perf_counter()
            for k, pts in by_series.items():
                update = dets[k].update
                for ts, v in pts:
                    update(ts, v)
            detector_seconds = time.perf_counter() - t
            detector_points = len(events)
    steady = rates[1:] or rates
    sizes = [len(bytes(s)) for s in SeriesBaseline.objects.values_list("state", flat=True) if s]
    print(f"detect_anomalies: first batch {rates[0]:,.0f} points/s, later batches median {statistics.median(steady):,.0f} points/s")
    print(f"detectors alone (update only, no database): {detector_points / detector_seconds:,.0f} points/s")
    if sizes:
        print(f"stored state after the run: median {statistics.median(sizes) / 1e3:.0f} kB per series")


if __name__ == "__main__":
    sys.exit(main())
