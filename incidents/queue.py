"""The ingest queue (issue 11): stored events handed to the partitioned workers through Redis Streams.

The request path stores the batch and, in the same transaction, one `IngestMessage` row per
partition the batch touches (incidents.partitions: metric points by series, the rest by topology
component); after the commit it publishes each row's id to its partition's stream
(`<INGEST_STREAM_PREFIX>:<kind>:<n>`, XADD, trimmed to about INGEST_STREAM_MAXLEN entries) and
answers 202. The row is the durable record; the stream is how a worker hears of it quickly:

* a publish that fails (Redis down, the process killed between commit and XADD) leaves the row:
  the sweep (`messages_republish`, run by every worker every few seconds) publishes rows whose
  `due_at` passed again (INGEST_REPUBLISH_SECONDS after the last publish);
* a worker processes a message by deleting its row in the transaction that runs the partition's
  stages (DELETE ... RETURNING): a message published twice, or taken over from a worker that was
  processing it when it died, finds its row gone (or waits on its lock, then finds it gone) and is
  acknowledged without running anything again;
* a worker acknowledges (XACK) only after that commit; what it read and did not acknowledge stays
  in the consumer group's pending list, and the worker that takes the partition over claims it
  (XAUTOCLAIM, incidents.worker).

Why Redis Streams and not django-q2 with one queue per partition (measured for issue 11, see
docs/ingest.md): a consumer group keeps what a worker read until it acknowledges it, and any
other worker can claim it, which is exactly a partition's takeover; django-q2's Redis broker pops
a task before running it (a killed worker loses it: correlation/runs.py needed its own lease and
sweep for that), and one cluster per partition means one set of processes per partition. A
stream also serves many messages in one read (XREADGROUP COUNT), so a worker processes hundreds
of small requests in one transaction; a django-q2 task is one pickled call, run one at a time.

Queue lag (`queue_lag`) is read from the rows: the messages not yet processed and the age of the
oldest, per kind; `/api/v1/stats` and `/metrics` report it.
"""
from __future__ import annotations

import json
import logging
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta
from functools import cache

from django.conf import settings
from django.db.models import Count, Min, Sum
from django.utils import timezone

from incidents import partitions
from incidents.models import Event, IngestMessage

log = logging.getLogger(__name__)

GROUP = "workers"
DONE_KEEP = 200_000  # latency records kept for the benchmark (incidents.worker)


@cache
def client():
    import redis

    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=5, socket_connect_timeout=2, health_check_interval=30)


def prefix() -> str:
    return settings.INGEST_STREAM_PREFIX


def stream_key(kind: str, partition: int) -> str:
    return f"{prefix()}:{kind}:{partition}"


def all_partitions() -> list[tuple[str, int]]:
    return [(partitions.SERIES, p) for p in range(settings.INGEST_SERIES_PARTITIONS)] + [
        (partitions.COMPONENT, p) for p in range(settings.INGEST_COMPONENT_PARTITIONS)
    ]


def messages_for(events: list[Event], *, arrived_at: float) -> list[IngestMessage]:
    """The unsaved rows that hand `events` to their partitions: metric points to their series'
    partition (only while ANOMALY_DETECTION is on: nothing else reads raw points), alerts, logs and
    anomalies to their component's."""
    component_of = partitions.COMPONENTS.get()
    groups: dict[tuple[str, int], list[int]] = defaultdict(list)
    for e in events:
        if e.type == Event.Type.METRIC:
            if not settings.ANOMALY_DETECTION:
                continue
            key = (partitions.SERIES, partitions.series_partition(e.service_id, e.metric, e.host))
        else:
            key = (partitions.COMPONENT, partitions.component_partition(e.service.name, component_of))
        groups[key].append(e.pk)
    due = timezone.now() + timedelta(seconds=settings.INGEST_REPUBLISH_SECONDS)
    return [
        IngestMessage(kind=kind, partition=p, event_ids=ids, events=len(ids), arrived_at=arrived_at, due_at=due)
        for (kind, p), ids in sorted(groups.items())
    ]


def publish(rows: list[IngestMessage], *, derived: bool = False, pipe=None) -> bool:
    """XADD each saved row's id to its stream (one round trip). A failure is logged and left to
    the sweep: the rows are committed, so nothing is lost. `derived`: the rows hand on what a
    worker's stages stored (anomalies), not what a request sent; their entries say so (`d`), and
    a worker does not linger for them (incidents.worker). With `pipe` (a Redis pipeline) the
    commands are only added to it: the caller sends them with its own (one round trip)."""
    if not rows:
        return True
    try:
        own = pipe is None
        if own:
            pipe = client().pipeline(transaction=False)
        for row in rows:
            fields = {"m": row.pk, "n": row.events, "d": 1} if derived else {"m": row.pk, "n": row.events}
            pipe.xadd(stream_key(row.kind, row.partition), fields, maxlen=settings.INGEST_STREAM_MAXLEN, approximate=True)
        if own:
            pipe.execute()
        return True
    except Exception:
        log.warning("publishing %d ingest message(s) failed; the sweep publishes them again within %gs",
                    len(rows), settings.INGEST_REPUBLISH_SECONDS, exc_info=True)
        return False


def messages_republish(*, limit: int = 1000) -> int:
    """The sweep: publish again the rows whose `due_at` passed (their publish failed or their
    stream lost them), and push their `due_at` on. Rows a worker is processing are locked and
    skipped. Returns how many were published."""
    from django.db import transaction

    now = timezone.now()
    with transaction.atomic():
        rows = list(IngestMessage.objects.select_for_update(skip_locked=True).filter(due_at__lte=now).order_by("pk")[:limit])
        if not rows:
            return 0
        IngestMessage.objects.filter(pk__in=[r.pk for r in rows]).update(due_at=now + timedelta(seconds=settings.INGEST_REPUBLISH_SECONDS))
    return len(rows) if publish(rows) else 0


@dataclass
class QueueLag:
    kind: str
    messages: int
    events: int
    oldest_seconds: float  # age of the oldest unprocessed message (0 when none)


def queue_lag(now: float | None = None) -> list[QueueLag]:
    """What waits for a worker, per kind of partition (one aggregate query over the rows)."""
    now = now or time.time()
    rows = {
        r["kind"]: r
        for r in IngestMessage.objects.order_by().values("kind").annotate(n=Count("pk"), events_n=Sum("events"), oldest=Min("arrived_at"))
    }
    out = []
    for kind in partitions.KINDS:
        r = rows.get(kind)
        out.append(QueueLag(kind, r["n"], r["events_n"] or 0, max(0.0, now - r["oldest"])) if r else QueueLag(kind, 0, 0, 0.0))
    return out


def done_key() -> str:
    return f"{prefix()}:done"


def done_record(records: list[dict], *, pipe=None) -> None:
    """Keep what a worker committed (kind, arrival, publish, start and commit times, events,
    incidents changed, the worker's CPU seconds for them, alerts among them, the worker and its
    batch's events) in a capped Redis list, for bench/ingest.py's arrival -> incident latency and
    CPU per event. With `pipe`, only added to that pipeline (see `publish`)."""
    if not records:
        return
    try:
        own = pipe is None
        if own:
            pipe = client().pipeline(transaction=False)
        pipe.lpush(done_key(), *[json.dumps(r, separators=(",", ":")) for r in records])
        pipe.ltrim(done_key(), 0, DONE_KEEP - 1)
        if own:
            pipe.execute()
    except Exception:
        log.warning("recording processed ingest messages failed", exc_info=True)


def done_read() -> list[dict]:
    return [json.loads(raw) for raw in client().lrange(done_key(), 0, -1)]
