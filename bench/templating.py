"""What log templating costs at ingest: the live stage (correlation.templating) timed inside the path a
batch takes, next to storing the batch and the correlation stage (anomaly detection and correlation).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/templating.py \
        [--family layered] [--seed 1] [--hours 12] [--batch 1000]

A fuzzed scenario (bench/fuzz: metrics, logs and alerts of a random estate) is written to a
temporary directory and fed in arrival order, `--batch` events at a time, into a fresh database
(PostgreSQL `cleara_bench_tpl_<pid>` beside DATABASE_URL's, or SQLite): each batch is validated and
stored (`incidents.ingest`), then templated (`correlation.templating.events_template`: mining, the
templates' rows, the events' template ids and parameters, the miner's state), then anomaly
detection and correlation (`correlation.pipeline.series_process`, then `component_process` on
the batch and the anomalies found, as one worker runs both partitions' stages), each timed by wall clock and
by this process's CPU time (the database server's CPU is not in it). Mining alone is the same
log messages through a fresh `TemplateMiner.add` in one process: the stage minus it is what
persisting the templates costs. Prints lines per second of the stage (CPU and wall) and its share
of a batch's processing time.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.db import bench_database  # noqa: E402


class Clock:
    """Wall and CPU seconds spent in one step, summed over the batches."""

    def __init__(self):
        self.wall = self.cpu = 0.0

    def __enter__(self):
        self._w, self._c = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall += time.perf_counter() - self._w
        self.cpu += time.process_time() - self._c


def run(events_path: Path, topology_path: Path, batch: int) -> dict:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cleara.settings")
    django.setup()
    from django.core.management import call_command

    from correlation import pipeline, templating
    from correlation.logtemplates import TemplateMiner
    from incidents import retention
    from incidents.ingest import batch_validate, events_store
    from incidents.models import Event, LogTemplate
    from incidents.topology import topology_apply, topology_validate

    call_command("migrate", verbosity=0)
    topology_apply(services=topology_validate(json.loads(topology_path.read_text())))
    # The scenario's days get time partitions of their own, as recent events have in production
    # (migration made only the current ones: without this every event lands in the default partition).
    with events_path.open() as fh:
        first = datetime.fromisoformat(json.loads(fh.readline())["timestamp"].replace("Z", "+00:00"))
    if retention.partitioned():
        retention.partitions_ensure(now=first, since=(first - timedelta(days=1)).date(), ahead=1)
    steps = {name: Clock() for name in ("store", "templating", "detection+correlation")}
    lines = batches = 0
    messages: list[str] = []

    def flush(items: list[dict]) -> None:
        nonlocal lines, batches
        with steps["store"]:
            stored = events_store(events=batch_validate(items)).events
        logs = [e.message for e in stored if e.type == Event.Type.LOG]
        lines += len(logs)
        messages.extend(logs)
        with steps["templating"]:
            templating.events_template(stored)
        with steps["detection+correlation"]:
            found = pipeline.series_process(stored).stored
            pipeline.component_process(stored + found)
        batches += 1

    items: list[dict] = []
    with events_path.open() as fh:
        for line in fh:
            if line.strip():
                items.append(json.loads(line))
            if len(items) >= batch:
                flush(items)
                items = []
    if items:
        flush(items)
    mining = Clock()
    miner = TemplateMiner()
    with mining:
        for m in messages:
            miner.add(m)
    return {"steps": steps, "mining": mining, "lines": lines, "batches": batches, "templates": LogTemplate.objects.count(),
            "events": Event.objects.count()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--family", default="layered", help="fuzzer family (layered, mesh, pools, queues)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--hours", type=float, default=12.0)
    parser.add_argument("--batch", type=int, default=1000, help="events per ingest batch")
    args = parser.parse_args()
    from bench.fuzz.scenario import scenario_write

    with tempfile.TemporaryDirectory(prefix="cleara_bench_tpl_") as tmp:
        events, topology, _truth = scenario_write(family=args.family, seed=args.seed, directory=Path(tmp), hours=args.hours)
        with bench_database("tpl") as env:
            os.environ["DATABASE_URL"] = env["DATABASE_URL"]
            r = run(events, topology, args.batch)
            from django.db import connections

            connections.close_all()  # before the database is dropped
    steps, mining, lines = r["steps"], r["mining"], r["lines"]
    total_wall = sum(c.wall for c in steps.values())
    total_cpu = sum(c.cpu for c in steps.values())
    db = "PostgreSQL" if env["DATABASE_URL"].startswith("postgres") else "SQLite"
    print(f"fuzz {args.family} seed {args.seed}, {args.hours:g} h: {r['events']} events ({lines} log lines, {r['templates']} templates) "
          f"in {r['batches']} batches of {args.batch}, {db}")
    print(f"{'step':24} {'wall s':>8} {'share':>7} {'CPU s':>8} {'share':>7}")
    for name, c in steps.items():
        print(f"{name:24} {c.wall:8.2f} {c.wall / total_wall:7.1%} {c.cpu:8.2f} {c.cpu / total_cpu:7.1%}")
    t = steps["templating"]
    print(f"templating stage: {lines / t.cpu:,.0f} lines/s CPU, {lines / t.wall:,.0f} lines/s wall "
          f"(mining alone: {lines / mining.cpu:,.0f} lines/s CPU, {mining.cpu:.2f} s; persisting: {max(0.0, t.cpu - mining.cpu):.2f} s CPU, "
          f"{max(0.0, t.wall - mining.cpu):.2f} s wall)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
